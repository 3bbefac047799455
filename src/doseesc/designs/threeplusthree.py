"""The 3+3 dose-escalation design: the one place where its rule is written.

Cohorts of three patients start at the lowest dose.  After each cohort at dose ``d``:

* 0 DLTs in 3 patients: escalate to ``d + 1``;
* 1 DLT in 3: treat 3 more at ``d``; then at most 1 DLT in 6 escalates, 2 or more stops;
* 2 or more DLTs (in 3 or in 6): ``d`` is *too toxic* and is never treated again.

Variants (named options, both off in the classic design):

``deescalate``
    When a dose is found too toxic and the dose below holds only 3 patients, 3 more are treated
    there; this repeats downward until a dose with at most 1 DLT in 6 is found (it is the MTD) or
    the lowest dose fails (no MTD).
``expand_top``
    The top dose with 0 DLTs in 3 is expanded to 6 before it can be recommended.

Without de-escalation the MTD is the dose below the one found too toxic (which may hold only 3
patients); the top dose is recommended when it passes; no dose is recommended when the lowest is
too toxic.  With both options every recommended dose has at most 1 DLT in at least 6 patients: the
MTD rule of NCT05727722 (registry record, ``shared/seeds/004``).

The state the rule reads is deliberately small, so that equal states merge in the exact engine:

``dose``        index of the dose the next cohort receives;
``n``, ``y``    patients and DLTs so far at that dose;
``threes``      how many doses directly below ``dose`` hold only 3 patients (0 DLTs), up to the
                first one that holds 6: the only history a de-escalation cascade can consult;
``descending``  1 once a dose has been found too toxic under de-escalation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from doseesc.designs.base import RUNNING, State

COHORT = 3


@dataclass(frozen=True)
class ThreePlusThree:
    """The 3+3 design over ``n_doses`` dose levels (indices 0 .. n_doses-1, increasing dose)."""

    n_doses: int
    deescalate: bool = False
    expand_top: bool = False

    fields = ("dose", "n", "y", "threes", "descending")

    def __post_init__(self) -> None:
        if not 1 <= self.n_doses <= 64:
            raise ValueError(f"n_doses must be between 1 and 64, got {self.n_doses}")

    @classmethod
    def nct05727722(cls, n_doses: int = 4) -> ThreePlusThree:
        """The registry trial's rule: MTD = highest dose with <= 1 DLT in >= 6 patients (DOMAIN.md)."""
        return cls(n_doses, deescalate=True, expand_top=True)

    @property
    def name(self) -> str:
        return "3+3"

    @property
    def options(self) -> dict[str, bool]:
        return {"deescalate": self.deescalate, "expand_top": self.expand_top}

    def start(self) -> State:
        return {f: np.zeros(1, dtype=np.int64) for f in self.fields} | {
            "selected": np.full(1, RUNNING, dtype=np.int64)
        }

    def cohort(self, state: State) -> tuple[np.ndarray, np.ndarray]:
        """Dose index and size of the next cohort of each trial."""
        return state["dose"], np.full_like(state["dose"], COHORT)

    def update(self, state: State, dlt: np.ndarray) -> State:
        """The state after the next cohort showed ``dlt`` DLTs (arrays with a leading trial axis)."""
        d = state["dose"]
        n = state["n"] + COHORT
        y = state["y"] + dlt
        top = d == self.n_doses - 1
        toxic = y >= 2
        expand = (n == COHORT) & ~toxic & ((y == 1) | (top & self.expand_top))
        passed = ~toxic & ~expand
        escalate = passed & ~top & (state["descending"] == 0)
        # Only a run of 3-patient doses directly below can be expanded; a 6-patient dose ends it.
        go_down = toxic & self.deescalate & (state["threes"] > 0)

        selected = np.where(passed & ~escalate, d, RUNNING)
        selected = np.where(toxic & ~go_down, d - 1, selected)
        threes = np.where(escalate, np.where(n == COHORT, state["threes"] + 1, 0), state["threes"])
        return {
            "dose": np.where(escalate, d + 1, np.where(go_down, d - 1, d)),
            "n": np.where(escalate, 0, np.where(go_down, COHORT, n)),
            "y": np.where(escalate | go_down, 0, y),
            "threes": np.where(go_down, threes - 1, threes) if self.deescalate else np.zeros_like(d),
            "descending": state["descending"] | go_down,
            "selected": selected,
        }
