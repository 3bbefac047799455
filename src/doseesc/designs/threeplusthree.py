"""The 3+3 dose-escalation design: the one place where its rule is written.

Cohorts of three patients start at the lowest dose.  After each cohort at dose ``d``:

* 0 DLTs in 3 patients: escalate to ``d + 1``;
* 1 DLT in 3: treat 3 more at ``d``; then at most 1 DLT in 6 escalates, 2 or more stops;
* 2 or more DLTs (in 3 or in 6): ``d`` is *too toxic* and is never treated again.

Variants (named options, both off in the classic design):

``deescalate``
    When a dose is found too toxic and the dose below holds fewer than 6 patients, it is brought up
    to 6 (3 more after a cohort of 3); this repeats downward until a dose with at most 1 DLT in 6 is
    found (it is the MTD) or the lowest dose fails (no MTD).
``expand_top``
    The top dose with 0 DLTs in 3 is expanded to 6 before it can be recommended.

Without de-escalation the MTD is the dose below the one found too toxic (which may hold only 3
patients); the top dose is recommended when it passes; no dose is recommended when the lowest is
too toxic.  With both options every recommended dose has at most 1 DLT in at least 6 patients: the
MTD rule of NCT05727722 (registry record, ``shared/seeds/004``).

The same rule is the standard phase of the accelerated titration designs
(:mod:`doseesc.designs.titration`), which hand over a dose already holding one patient (the cohort is
topped up to 3 with him counted) and leave single-patient or skipped doses below it; a cohort at a
dose holding ``n`` patients therefore has ``3 - n % 3`` patients.

The state the rule reads is deliberately small, so that equal states merge in the exact engine:

``phase``       0 accelerated (titration only), 1 escalating, 2 descending (a dose was too toxic and
                de-escalation is on);
``dose``        index of the dose the next cohort receives;
``n``, ``y``    patients and DLTs so far at that dose;
``threes``      how many doses directly below ``dose`` hold 3 patients (0 DLTs), up to the first
                that holds 6 or was reached in the accelerated phase: the history a de-escalation
                cascade consults;
``switch``      the dose where the standard phase began (0 for the plain 3+3); doses below it hold
                the accelerated phase's single patients, marked in ``accel`` (bit ``d``), never 6;
``g2``          grade-2 toxicities counted toward the accelerated phase's trigger (titration only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from doseesc.designs.base import RUNNING, State

COHORT = 3
ACCELERATED, ESCALATING, DESCENDING = 0, 1, 2
FIELDS = ("phase", "dose", "n", "y", "threes", "switch", "accel", "g2")


@dataclass(frozen=True)
class ThreePlusThree:
    """The 3+3 design over ``n_doses`` dose levels (indices 0 .. n_doses-1, increasing dose)."""

    n_doses: int
    deescalate: bool = False
    expand_top: bool = False

    fields = FIELDS
    outcomes = ("dlt",)

    def __post_init__(self) -> None:
        if not 1 <= self.n_doses <= 60:
            raise ValueError(f"n_doses must be between 1 and 60, got {self.n_doses}")

    @classmethod
    def nct05727722(cls, n_doses: int = 4) -> ThreePlusThree:
        """The registry trial's rule: MTD = highest dose with <= 1 DLT in >= 6 patients (DOMAIN.md)."""
        return cls(n_doses, deescalate=True, expand_top=True)

    @property
    def name(self) -> str:
        return "3+3"

    @property
    def options(self) -> dict[str, object]:
        return {"deescalate": self.deescalate, "expand_top": self.expand_top}

    def start(self) -> State:
        state = {f: np.zeros(1, dtype=np.int64) for f in FIELDS}
        return state | {"phase": np.full(1, ESCALATING), "selected": np.full(1, RUNNING)}

    def cohort(self, state: State) -> tuple[np.ndarray, np.ndarray]:
        """Dose index and size of the next cohort of each trial."""
        return state["dose"], COHORT - state["n"] % COHORT

    def update(self, state: State, outcome: dict[str, np.ndarray]) -> State:
        """The state after the next cohort showed ``outcome["dlt"]`` DLTs (leading trial axis)."""
        return self.standard(state, outcome["dlt"])

    def standard(self, state: State, dlt: np.ndarray) -> State:
        """The 3+3 rule proper, for trials in the escalating or descending phase."""
        d, phase = state["dose"], state["phase"]
        n = state["n"] + COHORT - state["n"] % COHORT
        y = state["y"] + dlt
        top = d == self.n_doses - 1
        descending = phase == DESCENDING
        toxic = y >= 2
        expand = (n == COHORT) & ~toxic & ((y == 1) | (top & self.expand_top) | descending)
        passed = ~toxic & ~expand
        escalate = passed & ~top & ~descending
        # The dose below can be brought up to 6 unless it already holds 6 (then it is the MTD).
        below_short = (state["threes"] > 0) | (d - 1 < state["switch"])
        go_down = toxic & self.deescalate & (d > 0) & below_short
        below_n = np.where(state["threes"] > 0, COHORT, (state["accel"] >> np.maximum(d - 1, 0)) & 1)

        selected = np.where(passed & ~escalate, d, RUNNING)
        selected = np.where(toxic & ~go_down, d - 1, selected)
        threes = np.where(escalate, np.where(n == COHORT, state["threes"] + 1, 0), state["threes"])
        return state | {
            "phase": np.where(go_down, DESCENDING, phase),
            "dose": np.where(escalate, d + 1, np.where(go_down, d - 1, d)),
            "n": np.where(escalate, 0, np.where(go_down, below_n, n)),
            "y": np.where(escalate | go_down, 0, y),
            "threes": np.maximum(np.where(go_down, threes - 1, threes), 0) if self.deescalate else 0 * d,
            "selected": selected,
        }
