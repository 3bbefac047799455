"""Accelerated titration designs (Simon et al., J Natl Cancer Inst 1997;89:1138-47).

Design 1 is the 3+3 itself (:class:`~doseesc.designs.ThreePlusThree`) on a ladder of 40% dose steps.
Designs 2-4 begin with an *accelerated phase*: one patient per cohort, stepping up ``step`` levels of
the ladder at a time (design 2: one 40% step; designs 3 and 4: 100%, i.e. two 40% levels), until the
*trigger*: one patient with a DLT, or ``grade2_trigger`` (2) patients with a grade-2 toxicity,
counted in the first course (designs 2 and 3) or in any course (design 4).  The dose where the
trigger fires is topped up to a cohort of 3 (the triggering patient counts) and the 3+3 rule, with
its variants, continues from there (:meth:`ThreePlusThree.standard`).  Choices the paper leaves open
are named options:

* an accelerated phase that reaches the top dose without a trigger switches to the standard phase
  there (the top dose is topped up to 3);
* a grade-2 toxicity in the triggering cohort's patient counts toward the trigger; grade-2 events
  before the switch are not carried into the 3+3 counts (which count DLTs only);
* later courses never feed the 3+3 decisions, which use first-course DLTs, as in a conventional
  3+3 (intrapatient escalation and later courses are simulated by the course engine,
  :mod:`doseesc.engines.courses`);
* a dose is named the MTD only once it holds a 3+3 cohort (see below), unless ``simon_literal``.

**Doses below the switch.**  The accelerated phase leaves one patient at each level it visited
and none at the levels it stepped over (designs 3 and 4), and the 3+3 names the dose below the one
found too toxic.  Read literally, the design can therefore name an MTD that one patient or nobody
received: when the trigger fires at level ``s`` and ``s`` proves too toxic, the MTD is ``s - 1``.
Simon et al. describe the standard phase as cohorts of three to six patients per level, and a
recommended dose is one such a cohort has passed; so by default a dose below the switch is first
brought up to a cohort of 3 (its accelerated-phase patient counts, as the triggering patient does
at the switch) and judged by the 3+3's own look: 0/3 names it the MTD (3 patients), 1/3 adds 3 more
and at most 1/6 names it (6 patients), more makes it too toxic and the next dose down is treated
the same way (no dose when the lowest fails).  Every named dose then holds 3 to 6 patients, the
standard phase's own numbers.  ``simon_literal=True`` keeps the literal rule (the MTD is the dose
below, whatever it holds); ``deescalate=True`` instead brings the dose below up to 6, as it does
for any dose the 3+3 would name with 3.  A trial that ``max_n`` ends names, by default, the dose
below the next cohort's only when that dose holds a cohort (else no dose), and ``stop_n_at_dose``
must be at least 3.

The NCT05727722 hybrid (ClinicalTrials.gov registry record NCT05727722; see ``docs/sources.md``):
four dose levels, one administration, single-patient cohorts with one-level steps until the first
DLT or the second grade-2 event, then the 3+3 with MTD = highest dose with <= 1 DLT in >= 6
patients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from doseesc.designs.aplusb import ACCELERATED, DESCENDING, ESCALATING, FIELDS, APlusB
from doseesc.designs.base import RUNNING, DecisionTable, State
from doseesc.designs.common import CommonDesign, check_int
from doseesc.stats import sd_from_sums

FILLING = 3
"""Phase of a trial bringing a dose below the switch up to a 3+3 cohort after the dose above it was
found too toxic (the default; see the module docstring)."""


@dataclass(frozen=True)
class AcceleratedTitration(CommonDesign):
    """An accelerated titration design over ``n_doses`` ladder levels (see the module docstring).

    ``step``: ladder levels per escalation in the accelerated phase (capped at the top dose);
    ``any_course``: later-course toxicities count toward the trigger (design 4); ``deescalate`` and
    ``expand_top``: the 3+3 variants of the standard phase; ``simon_literal``: the MTD is the dose
    below the one found too toxic even when it holds one patient or none (default: such a dose is
    first brought up to a 3+3 cohort).
    """

    step: int = 1
    any_course: bool = False
    grade2_trigger: int = 2
    deescalate: bool = False
    expand_top: bool = False
    simon_literal: bool = False
    label: str = "accelerated titration"
    intrapatient: bool = False
    """Whether patients escalate between courses by default (the course engine's default):
    Simon et al.'s designs 2-4 do, the NCT05727722 hybrid gives one administration."""
    conduct_preset: str | None = None
    """The calendar-time conduct the design's protocol fixes, by preset name
    (:func:`doseesc.build.make_conduct`): the NCT05727722 hybrid's one administration and 60-day DLT
    window; None: the conduct is the scenario's alone."""

    fields = FIELDS

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("step", self.step, 1, None, " (ladder levels per accelerated escalation)")
        check_int("grade2_trigger", self.grade2_trigger, 1, 2)
        if self.stop_n_at_dose is not None and not self.simon_literal:
            check_int(
                "stop_n_at_dose",
                self.stop_n_at_dose,
                3,
                10_000,
                " (a named dose holds a 3+3 cohort; smaller values need simon_literal)",
            )

    @classmethod
    def simon(cls, design: int, n_doses: int, **options: Any) -> AcceleratedTitration | APlusB:
        """Simon et al.'s design 2, 3 or 4 on a ladder of 40% steps (design 1 is the plain 3+3);
        ``options``: ``deescalate``, ``expand_top``, ``simon_literal`` (designs 2-4) and the common
        parameters."""
        if design == 1:
            return APlusB(n_doses, **options)
        if design not in (2, 3, 4):
            raise ValueError(f"design must be 1, 2, 3 or 4, got {design}")
        return cls(
            n_doses,
            step=1 if design == 2 else 2,
            any_course=design == 4,
            label=f"atd{design}",
            intrapatient=True,
            **options,
        )

    @classmethod
    def nct05727722(cls, n_doses: int = 4, **common: Any) -> AcceleratedTitration:
        """The registry trial's hybrid: one-level steps, then 3+3 with its MTD rule (<= 1 DLT in
        >= 6 patients, both 3+3 options on), in calendar time with the record's conduct (one
        administration, DLT window to Day 60) unless a scenario overrides it; ``common``: the
        common parameters."""
        return cls(
            n_doses,
            step=1,
            deescalate=True,
            expand_top=True,
            label="nct05727722",
            conduct_preset="nct05727722",
            **common,
        )

    @property
    def name(self) -> str:
        return self.label

    @property
    def outcomes(self) -> tuple[str, ...]:
        return ("dlt", "g2", "late_dlt", "late_g2") if self.any_course else ("dlt", "g2")

    @property
    def standard_phase(self) -> APlusB:
        """The 3+3 that takes over at the trigger (its own start dose is irrelevant here)."""
        return APlusB(self.n_doses, deescalate=self.deescalate, expand_top=self.expand_top)

    @property
    def options(self) -> dict[str, object]:
        return {
            "step": self.step,
            "any_course": self.any_course,
            "grade2_trigger": self.grade2_trigger,
            "deescalate": self.deescalate,
            "expand_top": self.expand_top,
            "simon_literal": self.simon_literal,
        } | self.common_options()

    def start(self) -> State:
        return {f: np.zeros(1, dtype=np.int64) for f in FIELDS} | {
            "phase": np.full(1, ACCELERATED),
            "dose": np.full(1, self.start_dose),
            "selected": np.full(1, RUNNING),
        }

    def initial_phase(self, states: State) -> np.ndarray:
        """Which states are in the accelerated phase (read by the course engine: patients there
        escalate by ``step`` levels between courses, and are counted as accelerated-phase patients)."""
        return states["phase"] == ACCELERATED

    def course_stride(self, states: State) -> np.ndarray:
        """Ladder levels of an intrapatient escalation between courses, per state."""
        return np.where(self.initial_phase(states), self.step, 1)

    def summaries(self, table: DecisionTable, weights: np.ndarray, n_trials: int | None) -> dict[str, Any]:
        """Where the accelerated phase ended and how many patients it treated (``p_switch``,
        ``mean_accelerated_patients``, ``sd_accelerated_patients``, and ``se_`` twins when
        simulated), from the cohort weights of the table's states.

        The accelerated phase follows a fixed path of doses, so the patients it treated are known
        from the state where it ends: one per accelerated state along the path.
        """
        accelerated = self.initial_phase(table.states)
        patients = np.zeros(table.n_live)
        patients[0] = 1
        nxt = table.next
        for s in np.flatnonzero(accelerated):  # ids are breadth-first: a state's predecessors come first
            onward = nxt[s][(nxt[s] >= 0) & (nxt[s] < table.n_live)]
            patients[onward[accelerated[onward]]] = patients[s] + 1
        live_next = (nxt >= 0) & (nxt < table.n_live)
        stays = live_next & accelerated[np.where(live_next, nxt, 0)]
        ends = accelerated[:, None] & (nxt >= 0) & ~stays
        w = np.where(ends, weights, 0).sum(axis=1)
        scale = 1 if n_trials is None else n_trials
        switch = np.bincount(table.dose, weights=w, minlength=table.n_doses) / scale
        mean = float(w @ patients) / scale
        sd = float(sd_from_sums(float(w @ patients), float(w @ patients**2), n_trials))
        out: dict[str, Any] = {
            "p_switch": switch.tolist(),
            "mean_accelerated_patients": mean,
            "sd_accelerated_patients": sd,
        }
        if n_trials is not None:
            out |= {
                "se_p_switch": np.sqrt(switch * (1 - switch) / n_trials).tolist(),
                "se_mean_accelerated_patients": sd / np.sqrt(n_trials),
            }
        return out

    def cohort(self, state: State) -> tuple[np.ndarray, np.ndarray]:
        """One patient in the accelerated phase; the 3+3's cohorts (with top-ups) after it."""
        _, size = self.standard_phase.cohort(state)
        return state["dose"], np.where(state["phase"] == ACCELERATED, 1, size)

    def select(self, state: State) -> np.ndarray:
        """The dose named when ``max_n`` ends the trial: the dose below the next cohort's, if it
        holds a 3+3 cohort (it lies at or above the switch, in the standard phase), else none;
        with ``simon_literal``, the dose below whatever it holds."""
        dose, _ = self.cohort(state)
        if self.simon_literal:
            return dose - 1
        phase = state["phase"]
        standard = (phase == ESCALATING) | (phase == DESCENDING)
        return np.where(standard & (dose - 1 >= state["switch"]), dose - 1, -1)

    def update(self, state: State, outcome: dict[str, np.ndarray]) -> State:
        """State after a cohort: ``outcome`` holds first-course DLT and grade-2 counts of the cohort
        (``dlt``, ``g2``) and, with ``any_course``, of earlier patients' later courses meanwhile."""
        late_dlt = outcome.get("late_dlt", 0)
        late_g2 = outcome.get("late_g2", 0)
        d = state["dose"]
        accelerated = state["phase"] == ACCELERATED
        g2 = state["g2"] + outcome["g2"] + late_g2
        trigger = (outcome["dlt"] + late_dlt > 0) | (g2 >= self.grade2_trigger) | (d == self.n_doses - 1)
        switch = accelerated & trigger
        climb = accelerated & ~trigger
        standard = self._standard(state, outcome["dlt"])
        return {
            "phase": np.where(switch, ESCALATING, np.where(climb, ACCELERATED, standard["phase"])),
            "dose": np.where(
                climb, np.minimum(d + self.step, self.n_doses - 1), np.where(switch, d, standard["dose"])
            ),
            "n": np.where(switch, 1, np.where(climb, 0, standard["n"])),
            "y": np.where(switch, outcome["dlt"], np.where(climb, 0, standard["y"])),
            "threes": np.where(accelerated, 0, standard["threes"]),
            "run_y": np.where(accelerated, 0, standard["run_y"]),
            "switch": np.where(switch, d, state["switch"]),
            "accel": np.where(climb, state["accel"] | (1 << d), state["accel"]),
            "g2": np.where(climb, np.minimum(g2, self.grade2_trigger), state["g2"]),
            "selected": np.where(accelerated, RUNNING, standard["selected"]),
        }

    def _standard(self, state: State, dlt: np.ndarray) -> State:
        """The 3+3 rule, then (unless ``simon_literal``) a dose below the switch that it would name
        is brought up to a cohort first: the ``FILLING`` phase (module docstring)."""
        rule = self.standard_phase
        out = rule.standard(state, dlt)
        if self.simon_literal:
            return out
        d = state["dose"]
        filling = state["phase"] == FILLING
        # FILLING is the 3+3's first and second look without escalation: a pass names the dose.
        n = state["n"] + rule.cohort(state)[1]
        y = state["y"] + dlt
        toxic = y > np.where(n == rule.a, rule.d, rule.e)
        passed = ~toxic & ((n > rule.a) | (y < rule.c))
        selected = np.where(filling, np.where(passed, d, np.where(toxic, d - 1, RUNNING)), out["selected"])
        # A dose the rule would name that lies below the switch holds one patient or none: fill it.
        short = (selected >= 0) & (selected < state["switch"]) & (selected < d)
        below = np.maximum(d - 1, 0)
        return out | {
            "phase": np.where(short, FILLING, np.where(filling, FILLING, out["phase"])),
            "dose": np.where(short, below, np.where(filling, d, out["dose"])),
            "n": np.where(short, (state["accel"] >> below) & 1, np.where(filling, n, out["n"])),
            "y": np.where(short | filling, np.where(short, 0, y), out["y"]),
            "threes": np.where(short | filling, 0, out["threes"]),
            "run_y": np.where(short | filling, 0, out["run_y"]),
            "selected": np.where(short, RUNNING, selected),
        }
