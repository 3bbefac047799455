"""What the events engine (:mod:`doseesc.engines.events`) returns: the event log's records
(:class:`LogRecord`), the per-trial patient counts (:data:`COUNTS`) and their summaries, and the
result of a run (:class:`EventsResult`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from doseesc.conduct import Conduct
from doseesc.results import OperatingCharacteristics, json_ready
from doseesc.tables import Tabular

COUNTS = (
    "screened",
    "screen_failures",
    "in_screening_at_end",
    "enrolled",
    "dosed",
    "replaced",
    "lost_waiting",
    "waiting_at_end",
    "deaths",
    "transplants",
    "halts",
)
"""Per-trial patient counts (see :class:`EventsResult`)."""


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One event of a simulated trial.

    ``time`` in days since accrual opened; ``patient`` numbers patients in order of arrival (-1 for
    trial-level records); ``dose`` is a dose index (0 = lowest, -1 where none applies).  Kinds:

    * per patient: ``arrival`` (screening starts), ``screen_failure``, ``eligible`` (waiting
      starts), ``lost`` (waiting limit reached), ``infusion`` (``note``: "i of n"; the first starts
      the DLT window), ``dlt`` (``note`` "SUSAR" when it halts the trial), ``death``,
      ``transplant``, ``window_complete``, ``replaced`` (the slot of a patient who left the window
      without a DLT is reopened);
    * per trial: ``cohort`` (a cohort opens at ``dose``; ``note``: its size), ``sentinel_cleared``
      (the stagger period ended, the other slots open), ``decision`` (``note``: "k/m DLT" for
      ``k`` DLTs in ``m`` patients treated, and the closed slots, if any),
      ``halt`` (a safety review starts; a later DLT flagged SUSAR extends it), ``resume`` (the
      review is over), ``out_of_time`` (the clock reached ``Conduct.max_days`` undecided: just
      before ``end``), ``end`` (``dose``: the selected dose; ``note`` "none" when none is).

    Records after ``end`` are the rest of the windows of patients still being observed.
    """

    time: float
    kind: str
    patient: int = -1
    dose: int = -1
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "kind": self.kind,
            "patient": self.patient,
            "dose": self.dose,
            "note": self.note,
        }


@dataclass(frozen=True)
class Summary:
    """Mean, standard deviation across trials and standard error of the mean of a per-trial figure."""

    mean: float
    sd: float
    se: float

    @classmethod
    def of(cls, values: np.ndarray) -> Summary:
        n = values.shape[0]
        sd = float(values.std(ddof=1)) if n > 1 else math.nan
        return cls(float(values.mean()), sd, sd / math.sqrt(n))


@dataclass(frozen=True)
class DurationSummary(Summary):
    """Trial duration in days (accrual opening to the design's final decision): moments and quantiles."""

    q25: float
    median: float
    q75: float
    q90: float

    @classmethod
    def of(cls, values: np.ndarray) -> DurationSummary:
        base = Summary.of(values)
        q25, q50, q75, q90 = np.quantile(values, [0.25, 0.5, 0.75, 0.9]).tolist()
        return cls(base.mean, base.sd, base.se, q25, q50, q75, q90)


@dataclass(frozen=True, eq=False)
class EventsResult(Tabular):
    """The events engine's answer: the design's operating characteristics and the conduct figures.

    ``counts[name]`` summarises patients per trial (:data:`COUNTS`), up to the final decision:
    ``screened`` (arrived and started screening), ``screen_failures``, ``in_screening_at_end``,
    ``enrolled`` (passed screening: ``dosed + lost_waiting + waiting_at_end``), ``dosed`` (received a
    first dose, replacements included), ``replaced`` (left the window without a DLT while their cohort
    was open, so the slot was given to another patient), ``lost_waiting``, ``waiting_at_end``,
    ``deaths`` and ``transplants`` (in the DLT window of a dosed patient, including windows still
    running at the final decision), ``halts`` (safety reviews started).  ``mean_wait_days`` is the
    mean time from eligibility to first dose over all dosed patients of all trials; ``log`` is the
    event log of the first trial.

    A trial still undecided when the clock reaches ``Conduct.max_days`` *ran out of time*
    (``out_of_time``, per trial): it ends there, selects no dose (so it is also in ``oc.p_none``),
    its duration is the horizon, and its per-dose figures count the cohorts the design decided (the
    patients of the cohort still open are in ``counts``, not in ``oc.mean_n``).  ``p_out_of_time``
    is their share, with its binomial standard error ``se_p_out_of_time``.
    """

    oc: OperatingCharacteristics
    conduct: Conduct
    duration: DurationSummary
    counts: dict[str, Summary]
    mean_wait_days: float
    log: tuple[LogRecord, ...]
    durations: np.ndarray
    """(n_trials,) duration of each trial in days, in trial order."""
    out_of_time: np.ndarray
    """(n_trials,) whether each trial reached ``Conduct.max_days`` undecided, in trial order."""
    courses: Any = None
    """Over several courses, the per-patient course figures
    (:class:`~doseesc.engines.events_courses.CourseFigures`); None for one course."""

    @property
    def p_out_of_time(self) -> float:
        """Share of trials that ran out of time."""
        return float(self.out_of_time.mean())

    @property
    def se_p_out_of_time(self) -> float:
        """Its binomial standard error, ``sqrt(p (1 - p) / n)``."""
        p = self.p_out_of_time
        return math.sqrt(p * (1.0 - p) / self.out_of_time.shape[0])

    def to_dict(self, *, include_log: bool = False) -> dict[str, Any]:
        """Plain JSON-ready dictionary (non-finite numbers as None): the operating characteristics'
        keys (``engine`` "events") plus ``conduct``, ``duration_days``, ``counts``,
        ``mean_wait_days``, ``p_out_of_time`` and ``se_p_out_of_time``; ``log`` on request."""
        out = self.oc.to_dict() | {
            "conduct": self.conduct.to_dict(),
            "duration_days": vars(self.duration),
            "counts": {name: vars(c) for name, c in self.counts.items()},
            "mean_wait_days": self.mean_wait_days,
            "p_out_of_time": self.p_out_of_time,
            "se_p_out_of_time": self.se_p_out_of_time,
        }
        if self.courses is not None:
            out |= self.courses.to_dict()
        if include_log:
            out["log"] = [r.to_dict() for r in self.log]
        return json_ready(out)


__all__ = ["COUNTS", "DurationSummary", "EventsResult", "LogRecord", "Summary"]
