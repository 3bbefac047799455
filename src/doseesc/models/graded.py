"""Toxicity with grades and courses, for the accelerated titration designs.

Grades follow NCI CTCAE: a DLT is grade 3 or worse; the accelerated phase's trigger also counts
grade 2 ("moderate") toxicities (Simon et al., J Natl Cancer Inst 1997;89:1138-47).  A patient's
worst grade in a course is drawn from one uniform ``u``: grade 4 when ``u < P(4)``, 3 when
``u < P(>=3)``, 2 when ``u < P(>=2)``, else 0-1.

Two models, each usable by the single-course engines (exact, Monte Carlo: first course only) and by
the course engine (:mod:`doseesc.engines.courses`):

* :class:`GradedTable`: per dose level, the probabilities of worst grade 2, 3 and 4 in a course;
  courses independent, patients alike.
* :class:`LatentToxicity`: Simon et al.'s model.  In course ``c`` patient ``i`` has the score
  ``log(d_ic + alpha * D_ic) + b_i + e_ic`` (``D_ic``: cumulative dose of earlier courses,
  ``b_i ~ N(0, sigma_patient^2)``, ``e_ic ~ N(0, sigma_course^2)``), cut at thresholds ``k2 < k3 <
  k4`` into grades 2, 3 and 4.  It lets cumulative toxicity and between-patient variability be
  studied, as the paper did.  Dose values are in any positive unit; thresholds are on the log
  scale of that unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from doseesc.models.table import validate_probabilities
from doseesc.streams import TrialStreams


@dataclass(frozen=True, eq=False)
class GradedTable:
    """Per-course probabilities of worst grade 2, 3 and 4 at each dose level (patients alike)."""

    p_grade2: np.ndarray
    p_grade3: np.ndarray
    p_grade4: np.ndarray

    events = ("grade 4",)
    grade2 = True

    def __post_init__(self) -> None:
        arrays = {}
        for name in ("p_grade2", "p_grade3", "p_grade4"):
            arrays[name] = validate_probabilities(getattr(self, name), name)
            object.__setattr__(self, name, arrays[name])
        if len({a.shape for a in arrays.values()}) != 1:
            raise ValueError("p_grade2, p_grade3 and p_grade4 must have one entry per dose each")
        if np.any(self.p_grade2 + self.p_grade3 + self.p_grade4 > 1 + 1e-12):
            raise ValueError("p_grade2 + p_grade3 + p_grade4 must not exceed 1 at any dose")

    @property
    def n_doses(self) -> int:
        return self.p_grade2.shape[0]

    def mean_probabilities(self) -> np.ndarray:
        return self.p_grade3 + self.p_grade4

    def mean_grade2_probabilities(self) -> np.ndarray:
        return self.p_grade2

    @cached_property
    def probability_table(self) -> np.ndarray:
        """``(1, 3, n_doses)``: P(grade >= 3), P(grade 4), P(grade >= 2) (see :mod:`doseesc.models.base`)."""
        g4 = self.p_grade4
        g3 = g4 + self.p_grade3
        table = np.stack([g3, g4, g3 + self.p_grade2])[None]
        table.setflags(write=False)
        return table

    def draw_trials(self, streams: TrialStreams) -> np.ndarray:
        return np.zeros(streams.n_trials, dtype=np.intp)

    def draw_patients(self, streams: TrialStreams, rows: int) -> np.ndarray:
        """Patient effects (none: patients are alike)."""
        return np.zeros((rows, streams.n_trials))

    def grade_probabilities(
        self, level: np.ndarray, cumulative: np.ndarray, effect: np.ndarray
    ) -> np.ndarray:
        """(3, ...) P(grade >= 2), P(grade >= 3), P(grade 4) in a course at dose index ``level``."""
        g4 = np.take(self.p_grade4, level)
        g3 = g4 + np.take(self.p_grade3, level)
        return np.stack([g3 + np.take(self.p_grade2, level), g3, g4])

    def dose_values(self) -> np.ndarray:
        """Dose levels have no values here; cumulative dose is not used."""
        return np.zeros(self.n_doses)


@dataclass(frozen=True, eq=False)
class LatentToxicity:
    """Simon et al.'s latent toxicity model (see the module docstring).

    ``doses``: dose value of each ladder level (increasing, positive); ``alpha``: weight of the
    cumulative earlier dose; ``sigma_patient``, ``sigma_course``: SDs of the patient effect and of
    the course noise; ``thresholds``: ``(k2, k3, k4)`` on the log-dose scale.
    """

    doses: np.ndarray
    alpha: float
    sigma_patient: float
    sigma_course: float
    thresholds: tuple[float, float, float]

    events = ("grade 4",)
    grade2 = True

    def __post_init__(self) -> None:
        doses = np.asarray(self.doses, dtype=float)
        if doses.ndim != 1 or doses.size == 0 or not np.all(doses > 0) or np.any(np.diff(doses) <= 0):
            raise ValueError("doses must be a non-empty list of positive, increasing dose values")
        doses.setflags(write=False)
        object.__setattr__(self, "doses", doses)
        if not (np.isfinite(self.alpha) and self.alpha >= 0):
            raise ValueError(f"alpha must be >= 0, got {self.alpha}")
        for name in ("sigma_patient", "sigma_course"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be >= 0, got {value}")
        if self.sigma_course <= 0 and self.sigma_patient <= 0:
            raise ValueError("sigma_patient and sigma_course cannot both be 0")
        k = tuple(float(x) for x in self.thresholds)
        if len(k) != 3 or not (k[0] < k[1] < k[2]):
            raise ValueError(
                f"thresholds must be three increasing numbers (k2 < k3 < k4), got {self.thresholds}"
            )
        object.__setattr__(self, "thresholds", k)

    @classmethod
    def ladder(cls, start: float, n_doses: int, step: float = 0.4, **kw) -> LatentToxicity:
        """Doses ``start * (1 + step)**j`` (Simon et al.: 40% steps)."""
        return cls(doses=start * (1 + step) ** np.arange(n_doses), **kw)

    @property
    def n_doses(self) -> int:
        return self.doses.shape[0]

    def _first_course(self) -> np.ndarray:
        """(3, n_doses) P(grade >= 2), P(>= 3), P(4) in a first course, averaged over patients."""
        scale = np.hypot(self.sigma_patient, self.sigma_course)
        from scipy.special import ndtr  # here: scipy.special adds 0.3 s to every command's start-up

        return ndtr((np.log(self.doses)[None, :] - np.array(self.thresholds)[:, None]) / scale)

    def mean_probabilities(self) -> np.ndarray:
        return self._first_course()[1]

    def mean_grade2_probabilities(self) -> np.ndarray:
        first = self._first_course()
        return first[0] - first[1]

    @cached_property
    def probability_table(self) -> np.ndarray:
        """``(1, 3, n_doses)``: P(grade >= 3), P(grade 4), P(grade >= 2) in a first course, averaged over
        the patient effect (the first-course score is normal with SD ``hypot(sigma_patient,
        sigma_course)``), see :mod:`doseesc.models.base`."""
        first = self._first_course()
        table = np.stack([first[1], first[2], first[0]])[None]
        table.setflags(write=False)
        return table

    def draw_trials(self, streams: TrialStreams) -> np.ndarray:
        return np.zeros(streams.n_trials, dtype=np.intp)

    def draw_patients(self, streams: TrialStreams, rows: int) -> np.ndarray:
        """(rows, n_trials) patient effects ``b_i``."""
        return self.sigma_patient * streams.standard_normal(rows)

    def grade_probabilities(
        self, level: np.ndarray, cumulative: np.ndarray, effect: np.ndarray
    ) -> np.ndarray:
        """(3, ...) P(grade >= 2), P(>= 3), P(4) in a course at ladder index ``level`` for a patient
        with effect ``effect`` after ``cumulative`` earlier dose (dose units)."""
        score = np.log(np.take(self.doses, level) + self.alpha * cumulative) + effect
        k = np.array(self.thresholds).reshape((3,) + (1,) * score.ndim)
        if self.sigma_course == 0:
            return (score >= k).astype(float)
        from scipy.special import ndtr

        return ndtr((score - k) / self.sigma_course)

    def dose_values(self) -> np.ndarray:
        return self.doses
