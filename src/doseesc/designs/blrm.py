"""The Bayesian logistic regression model with escalation with overdose control (BLRM-EWOC;
Neuenschwander, Branson & Gsponer, Stat Med 2008;27:2420-39).

Model and posterior: :mod:`doseesc.designs.blrm_model` (``logit p(d) = log alpha + beta log(d /
d_ref)``, bivariate normal prior on ``(log alpha, log beta)``, deterministic quadrature, so the
same data always give the same decision).  P(DLT) is classed as underdosing below ``lower``
(default 0.16), target from ``lower`` up to ``overdose`` (default 0.33), overdosing from
``overdose``.

Cohorts of ``cohort_size`` start at ``start_dose``.  After each cohort, with every patient so far:

1. **EWOC**: a dose is admissible when ``P(overdosing) < ewoc`` (default 0.25).
2. **Increment**: the next dose may be at most ``1 + max_increase`` times the dose just given
   (default ``max_increase = 1``: doubling; any dose below is allowed).
3. **Next dose** among admissible doses within the increment: the one with the highest
   ``P(target)`` (``choose = "target"``, the convention of Neuenschwander et al.; an exact tie goes
   to the lower dose), or the highest such dose (``choose = "highest"``, the other common
   reading).  If no dose is admissible the trial stops with no MTD.
4. **Stop** and select the next dose when it already holds at least ``min_at_mtd`` patients
   (default 6) and its ``P(target) >= min_target_prob`` (default 0.5); otherwise treat the next
   cohort there, up to ``max_n`` patients (default 30), when the dose the next cohort would get is
   the MTD.

Doses (``doses``) are the dose values in any one unit (cells/kg, cells, mg/m^2), increasing;
``reference_dose`` is ``d_ref`` (default the middle dose, ``doses[(K - 1) // 2]``).  The prior
(an assumption to state in a protocol): ``log alpha ~ N(logit(prior_p_ref), sd_log_alpha^2)``
with ``prior_p_ref`` the prior guess of P(DLT) at ``d_ref`` (default 0.25) and ``sd_log_alpha = 2``,
``log beta ~ N(mean_log_beta, sd_log_beta^2)`` (defaults 0 and 1), correlation ``prior_corr``
(default 0): the weakly informative prior of the OncoBayes2 package's documentation.

The state is the next dose, every dose's patients and DLTs, and the decision on the data so far
(``final``: the dose selected if the trial ends now); histories with equal counts merge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from scipy.special import logit

from doseesc.designs.base import RUNNING
from doseesc.designs.blrm_model import BLRMModel, BLRMPrior
from doseesc.designs.common import check_cohort_size, check_int, check_number
from doseesc.designs.counts import CountsDesign

CHOICES = ("target", "highest")


@dataclass(frozen=True)
class BLRM(CountsDesign):
    """BLRM with EWOC over ``n_doses`` levels (see the module docstring for every parameter)."""

    max_n_limit = 500

    doses: tuple[float, ...] | None = None
    reference_dose: float | None = None
    prior_p_ref: float = 0.25
    sd_log_alpha: float = 2.0
    mean_log_beta: float = 0.0
    sd_log_beta: float = 1.0
    prior_corr: float = 0.0
    lower: float = 0.16
    overdose: float = 0.33
    ewoc: float = 0.25
    max_increase: float = 1.0
    choose: str = "target"
    min_at_mtd: int = 6
    min_target_prob: float = 0.5
    cohort_size: int = 3
    max_n: int | None = field(default=30, kw_only=True)

    def __post_init__(self) -> None:
        if self.doses is None:
            raise ValueError("doses must be given: the dose values, one per level, in any one unit")
        ok = isinstance(self.doses, list | tuple) and all(
            isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in self.doses
        )
        if not ok or len(self.doses) != self.n_doses or not all(np.diff(self.doses) > 0):
            raise ValueError(
                f"doses must hold {self.n_doses} increasing positive dose values, one per level, "
                f"got {self.doses!r}"
            )
        object.__setattr__(self, "doses", tuple(float(v) for v in self.doses))
        if self.reference_dose is not None:
            check_number("reference_dose", self.reference_dose, 0.0, float("inf"), strict=True)
        check_number("prior_p_ref", self.prior_p_ref, 0.0, 1.0, strict=True)
        check_number("sd_log_alpha", self.sd_log_alpha, 0.01, 10.0)
        check_number("mean_log_beta", self.mean_log_beta, -5.0, 5.0)
        check_number("sd_log_beta", self.sd_log_beta, 0.01, 5.0)
        check_number("prior_corr", self.prior_corr, -0.95, 0.95)
        check_number("lower", self.lower, 0.0, 1.0, strict=True)
        check_number("overdose", self.overdose, self.lower, 1.0, " (above lower)", strict=True)
        check_number("ewoc", self.ewoc, 0.0, 1.0, strict=True)
        check_number("max_increase", self.max_increase, 0.0, 100.0)
        if self.choose not in CHOICES:
            raise ValueError(f"choose must be one of {', '.join(CHOICES)}, got {self.choose!r}")
        check_int("min_at_mtd", self.min_at_mtd, 1, 10_000)
        check_number("min_target_prob", self.min_target_prob, 0.0, 1.0)
        check_cohort_size("cohort_size", self.cohort_size)
        if self.max_n is None:
            raise ValueError("max_n must be given: it is the BLRM's maximum sample size")
        super().__post_init__()

    @property
    def d_ref(self) -> float:
        """The reference dose ``d_ref`` (given, or the middle dose)."""
        return self.doses[(self.n_doses - 1) // 2] if self.reference_dose is None else self.reference_dose

    @cached_property
    def model(self) -> BLRMModel:
        prior = BLRMPrior(
            float(logit(self.prior_p_ref)),
            self.sd_log_alpha,
            self.mean_log_beta,
            self.sd_log_beta,
            self.prior_corr,
        )
        x = tuple(float(v) for v in np.log(np.asarray(self.doses) / self.d_ref))
        return BLRMModel(x, prior, self.lower, self.overdose)

    @property
    def name(self) -> str:
        return "BLRM-EWOC"

    @property
    def options(self) -> dict[str, Any]:
        defaults = {
            "reference_dose": None,
            "prior_p_ref": 0.25,
            "sd_log_alpha": 2.0,
            "mean_log_beta": 0.0,
            "sd_log_beta": 1.0,
            "prior_corr": 0.0,
            "lower": 0.16,
            "overdose": 0.33,
            "ewoc": 0.25,
            "max_increase": 1.0,
            "choose": "target",
            "min_at_mtd": 6,
            "min_target_prob": 0.5,
        }
        given = {k: getattr(self, k) for k, v in defaults.items() if getattr(self, k) != v}
        return {"doses": list(self.doses), "cohort_size": self.cohort_size} | given | self.common_options()

    def recommend(self, n: np.ndarray, y: np.ndarray, given: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For per-dose counts and the dose just ``given``: the next dose (-1: none admissible) and
        its ``P(target)`` (0 where none).  The posterior of equal counts is computed once."""
        k = self.n_doses
        counts, inverse = np.unique(np.column_stack([n, y]), axis=0, return_inverse=True)
        s = self.model.summaries(counts[:, :k], counts[:, k:], mean=False)
        p_over, p_target = s["p_over"][inverse.ravel()], s["p_target"][inverse.ravel()]
        doses = np.asarray(self.doses)
        reach = doses[None, :] <= (1 + self.max_increase) * doses[given][:, None] * (1 + 1e-12)
        allowed = (p_over < self.ewoc) & reach
        if self.choose == "target":
            score = np.where(allowed, p_target, -1.0)
            pick = np.argmax(score, axis=1)  # the first maximum: the lower dose on a tie
        else:
            pick = k - 1 - np.argmax(allowed[:, ::-1], axis=1)
        none = ~allowed.any(axis=1)
        return np.where(none, -1, pick), np.where(none, 0.0, p_target[np.arange(given.shape[0]), pick])

    def decide(
        self, n: np.ndarray, y: np.ndarray, given: np.ndarray, dlt: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The next dose (stay where no dose is allowed: the trial stops), the selection on the data
        so far, and the stops: no dose allowed, or enough patients and P(target) at the next dose."""
        nxt, p_target = self.recommend(n, y, given)
        none = nxt < 0
        dose = np.where(none, given, nxt)
        rows = np.arange(given.shape[0])
        enough = ~none & (n[rows, dose] >= self.min_at_mtd) & (p_target >= self.min_target_prob)
        return dose, nxt, np.where(none, -1, np.where(enough, dose, RUNNING))
