"""Several courses per patient in calendar time: accelerated titration in the events engine.

Each course is one cycle of the DLT window: a patient dosed at ``t0`` receives course ``c`` (from 1)
at ``t0 + (c - 1) window_days``.  The rules between courses are the course engine's
(:mod:`doseesc.engines.courses`, Simon et al., J Natl Cancer Inst 1997;89:1138-47): with
intrapatient escalation a course of worst grade 0-1 sends the patient up the design's step (its
accelerated step in the accelerated phase, one level after), grade 2 keeps the dose; after a DLT the
patient goes off study (``on_dlt="stop"``) or down one step (``"reduce"``); a patient leaves after
``courses`` courses.  The step is read from the design's state when the course ends, after any
decision taken at that moment.  A course's worst grade is drawn at its start from the graded model
(:class:`~doseesc.models.graded.GradedTable`, :class:`~doseesc.models.graded.LatentToxicity`) for
the patient's level, earlier cumulative dose and own effect (drawn once per patient by the model).

The design reads its cohort's first courses as in one-course trials, and, for designs whose trigger
counts any course (design 4: ``late_dlt``, ``late_g2``), what earlier patients' later courses showed
while the cohort was open: a DLT (grade >= 3), and grade-2 toxicities in patients who had shown none
before (capped as the design's outcome allows).  A later course's outcome is known at its DLT, or at
its end, before any first-course outcome of the same moment; so when every slot of a cohort is
dosed as it opens and the design waits for complete windows, a cohort's window is exactly the course
engine's period (its first courses beside every earlier patient's next course), and the two engines
give the same operating characteristics.  After the design's final decision (or the horizon) no one
new is dosed and the patients on study complete their courses, counted in the course figures.

A death or transplant (``Conduct.disease``) is drawn once per patient from the first dose and ends
the patient's participation when it comes first: in the first course the patient is replaced (as in
one-course trials), in a later one the patient leaves; the worst grade counts completed courses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from simpy.core import NORMAL, URGENT

from doseesc.designs.base import DecisionTable, outcome_ranges
from doseesc.engines.accrual import Uniforms
from doseesc.engines.courses import CourseOptions, course_figures
from doseesc.engines.events_result import LogRecord
from doseesc.engines.events_setup import Setup
from doseesc.engines.events_trial import Due, Trial
from doseesc.stats import ratio_se
from doseesc.streams import TrialStreams

AFTER_DECISIONS = NORMAL + 1
"""simpy priority of a course's end: after the outcomes (and so the decisions) of the same moment."""

COURSE_COUNTS = ("patients", "courses", "worst_0_1", "worst_2", "worst_3", "worst_4", "low_dose")
"""Per-trial course counters: patients, courses given, patients by worst grade over their courses,
patients first treated below ``CourseOptions.low_level``."""


@dataclass(frozen=True)
class CoursePlan:
    """What the trials need of a multi-course run: the options, the design's intrapatient step per
    live state and the model's dose values (for cumulative dose)."""

    options: CourseOptions
    stride: tuple[int, ...]
    dose_values: tuple[float, ...]


class CourseSetup(Setup):
    """The one-course setup, plus each cohort's outcome codes for every later-course outcome."""

    def __init__(
        self,
        table: DecisionTable,
        model: Any,
        conduct: Any,
        infusion_cdf: np.ndarray | None,
        plan: CoursePlan,
    ) -> None:
        super().__init__(table, model, conduct, infusion_cdf)
        self.plan = plan
        self.courses = plan.options.courses
        self.intrapatient = plan.options.intrapatient
        self.reduce = plan.options.on_dlt == "reduce"
        self.top = table.n_doses - 1
        self.reads_late = "late_dlt" in table.outcomes
        self.alike: dict[tuple[int, float], tuple[float, float, float]] = {}
        m = table.max_cohort
        ranges = outcome_ranges(m)
        self.late_g2_cap = ranges["late_g2"] - 1
        read = self.reads_late
        self.late_code = [
            [
                [
                    [
                        int(table.code(dlt=a, g2=b, **({"late_dlt": ld, "late_g2": lg} if read else {})))
                        if a + b <= m
                        else None
                        for b in range(m + 1)
                    ]
                    for a in range(m + 1)
                ]
                for lg in range(ranges["late_g2"])
            ]
            for ld in range(ranges["late_dlt"])
        ]


class _Patient:
    """One patient's course state."""

    __slots__ = ("cumulative", "effect", "exit_at", "g2_seen", "given", "grade", "level", "start", "worst")

    def __init__(self, level: int, effect: float, start: float) -> None:
        self.level = level
        self.effect = effect
        self.start = start  # the course's start (days since accrual opened)
        self.cumulative = 0.0  # dose of earlier courses
        self.given = 0  # courses completed
        self.grade = 1  # this course's worst grade (1: 0-1)
        self.worst = 1
        self.g2_seen = False
        self.exit_at = math.inf  # death or transplant (days since accrual opened)


class CourseTrial(Trial):
    """A trial whose patients receive several courses (see the module)."""

    def __init__(
        self,
        setup: CourseSetup,
        u: Uniforms,
        outcomes: list[int],
        kind: int,
        log: list[LogRecord] | None,
        patient_streams: TrialStreams,
    ) -> None:
        super().__init__(setup, u, outcomes, kind, log)
        self.s: CourseSetup = setup
        self.risks = None  # each patient's own (_risks)
        self.patient_streams = patient_streams
        self.patients: dict[int, _Patient] = {}
        self.closed = False
        self.late_dlt = self.late_g2 = 0
        self.counts = [0] * len(COURSE_COUNTS)
        self.next_patient: tuple[float, tuple[float, float, float]] | None = None

    # -- the first course ------------------------------------------------------------------------

    def _grades(self, level: int, cumulative: float, effect: float) -> tuple[float, float, float]:
        """P(grade >= 2), P(grade >= 3), P(grade 4) in a course."""
        alike = self.s.alike
        key = (level, cumulative)
        if effect == 0.0 and key in alike:
            return alike[key]
        p = self.s.model.grade_probabilities(np.array(level), np.array(cumulative), np.array(effect))
        out = float(p[0]), float(p[1]), float(p[2])
        if effect == 0.0:  # patients alike (a graded table): few distinct courses, kept
            alike[key] = out
        return out

    def _risks(self, dose: int) -> tuple[float, float, float]:
        """The patient's own first-course probabilities (the model's patient effect drawn now)."""
        s = self.s
        effect = float(s.model.draw_patients(self.patient_streams, 1)[0, 0])
        g2, g3, g4 = self._grades(dose, 0.0, effect)
        self.next_patient = (effect, (g2, g3, g4))
        return g3, g4 if s.n_events else g3, g2 if s.grade2 else g3

    def _dose(self, i: int, ready: float, now: float) -> tuple[int, float, int, float, float]:
        dose, draw, outcome, t, exit_t = super()._dose(i, ready, now)
        effect, (g2, g3, g4) = self.next_patient
        p = _Patient(dose, effect, now)
        p.grade = 4 if draw < g4 else 3 if draw < g3 else 2 if draw < g2 else 1
        p.exit_at = now + exit_t
        self.patients[i] = p
        self.counts[6] += dose < self.s.plan.options.low_level
        if exit_t < t:  # left the window (replaced) in this course
            p.given += 1
            self._retire(p)
        else:
            self._at(now, p.start + self.s.window, AFTER_DECISIONS, i, self._course_end)
        return dose, draw, outcome, t, exit_t

    def _at(self, now: float, time: float, priority: int, value: Any, callback: Any) -> None:
        """Call ``callback`` with an event of ``value`` at ``time`` (days since accrual opened; ``now``:
        the moment of scheduling), before (lower ``priority``) or after the other events of that
        moment."""
        self._after(now, time - now, value, callback, priority)

    # -- later courses ---------------------------------------------------------------------------

    def _course_end(self, event: Due) -> None:
        """A course is over: the next course's level (the course engine's rule), or the patient
        leaves."""
        s, i = self.s, event._value
        p = self.patients[i]
        p.given += 1
        p.worst = max(p.worst, p.grade)
        p.g2_seen = p.g2_seen or p.grade == 2
        toxic = p.grade >= 3
        if p.given >= s.courses or (toxic and not s.reduce):
            self._retire(p)
            return
        stride = s.plan.stride[self.state] if self.state < s.n_live and not self.closed else 1
        change = stride if s.intrapatient and p.grade <= 1 else 0
        if toxic:
            change = -stride
        p.cumulative += s.plan.dose_values[p.level]
        p.level = min(max(p.level + change, 0), s.top)
        self._start_course(i, p, event.at)

    def _start_course(self, i: int, p: _Patient, now: float) -> None:
        s = self.s
        p.start = now
        g2, g3, g4 = self._grades(p.level, p.cumulative, p.effect)
        draw = self.u()
        p.grade = 4 if draw < g4 else 3 if draw < g3 else 2 if draw < g2 else 1
        t = self._dlt_time(p.level) if p.grade >= 3 else s.window
        course = p.given + 1
        if self.log is not None:
            infusions = s.infusions[p.level]
            for k in range(infusions):
                if k == 0 or k * s.interval <= t:
                    note = f"course {course}, {k + 1} of {infusions}"
                    self.log.append(LogRecord(now + k * s.interval, "infusion", i, p.level, note))
        if p.exit_at < now + t:
            transplant = self.u() < s.transplant_share
            self.transplants += transplant
            self.deaths += not transplant
            if self.log is not None:
                kind = "transplant" if transplant else "death"
                self.log.append(LogRecord(p.exit_at, kind, i, p.level, f"course {course}"))
            p.given += 1
            self._retire(p)
            return
        # Known before the first-course outcomes of the same moment (see the module).
        self._at(now, now + t, URGENT, (i, p.grade), self._later_outcome)
        self._at(now, now + s.window, AFTER_DECISIONS, i, self._course_end)
        if self.log is not None:
            kind = "dlt" if p.grade >= 3 else "window_complete"
            self.log.append(LogRecord(now + t, kind, i, p.level, f"course {course}"))

    def _later_outcome(self, event: Due) -> None:
        """A later course's worst grade is known: the open cohort reads it (design 4)."""
        i, grade = event._value
        if self.closed or not self.s.reads_late:
            return
        p = self.patients[i]
        if grade >= 3:
            self.late_dlt = 1
        elif grade == 2 and not p.g2_seen:
            self.late_g2 = min(self.late_g2 + 1, self.s.late_g2_cap)
        self._read_late()
        self._check_decision(event.at)

    def _retire(self, p: _Patient) -> None:
        """Count a patient who leaves: courses given (the one an exit ended included), worst grade
        over the completed ones."""
        c = self.counts
        c[0] += 1
        c[1] += p.given
        c[1 + p.worst] += 1

    # -- the design ------------------------------------------------------------------------------

    def _read_late(self) -> None:
        """The open cohort's outcome codes given what later courses showed while it was open."""
        self.code = self.s.late_code[self.late_dlt][self.late_g2]
        self.decided = self.s.memo(self.code)

    def _open_cohort(self, state: int, now: float) -> None:
        self.late_dlt = self.late_g2 = 0
        self._read_late()
        super()._open_cohort(state, now)

    def _halt(self, now: float) -> None:
        # A review stops new patients: after the final decision there are none to stop.
        if not self.closed:
            super()._halt(now)

    def _simulate(self) -> None:
        super()._simulate()
        # No one new is dosed; the patients on study complete their courses.
        self.closed = True
        self.open_slots = 0
        self.serial += 1
        while self.env.peek() < math.inf:
            self.env.run()


@dataclass(frozen=True)
class CourseFigures:
    """Per-patient course figures of a multi-course events run (the course engine's, with their
    delta-method standard errors; pooled over trials: sums over trials of counts over patients)."""

    options: CourseOptions
    mean_patients: float
    se_mean_patients: float
    mean_courses_per_patient: float
    se_mean_courses_per_patient: float
    worst_grade: np.ndarray
    se_worst_grade: np.ndarray
    mean_low_dose: float
    se_mean_low_dose: float

    @classmethod
    def of(cls, options: CourseOptions, counts: np.ndarray) -> CourseFigures:
        """From the ``(n_trials, len(COURSE_COUNTS))`` per-trial counters."""
        n = counts.shape[0]
        x = counts.astype(float)
        sums, products = x.sum(axis=0), x.T @ x

        def ratio(i: int) -> tuple[float, float]:
            r, se = ratio_se(sums[i], sums[0], products[i, i], products[i, 0], products[0, 0], n)
            return float(r), float(se)

        def mean(j: int) -> tuple[float, float]:
            sd = float(x[:, j].std(ddof=1)) if n > 1 else math.nan
            return float(x[:, j].mean()), sd / math.sqrt(n)

        worst = [ratio(j) for j in range(2, 6)]
        return cls(
            options,
            *mean(0),
            *ratio(1),
            np.array([w[0] for w in worst]),
            np.array([w[1] for w in worst]),
            *mean(6),
        )

    def to_dict(self) -> dict[str, Any]:
        return course_figures(self)


__all__ = ["COURSE_COUNTS", "CourseFigures", "CoursePlan", "CourseSetup", "CourseTrial"]
