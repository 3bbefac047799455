"""The continual reassessment method (CRM; O'Quigley, Pepe & Fisher, Biometrics 1990;46:33-48), as the
R package dfcrm (``crm``, ``crmsim``; Cheung, *Dose Finding by the Continual Reassessment Method*,
2011) runs it.

Cohorts of ``cohort_size`` start at ``start_dose`` and the trial treats ``max_n`` patients (a
multiple of the cohort size; no early stop, no "no MTD" outcome by default).  After each cohort:

1. The working model (:mod:`doseesc.designs.crm_model`: ``empiric`` or one-parameter ``logistic``,
   prior ``beta ~ N(0, prior_var)``) is updated with every patient so far; the estimate of P(DLT)
   at each dose is the model at the posterior mean of ``beta`` (``estimate = "plugin"``, dfcrm's),
   or the posterior mean of P(DLT) itself (``estimate = "posterior"``).
2. The recommended dose is the one whose estimate is closest to ``target`` (an exact tie: the
   lower); the highest dose if every estimate is at most the target, the lowest if every one is at
   least the target.
3. With ``restrict`` (dfcrm's default): the next dose is at most one level above the dose just
   given, and no higher than it if the cohort just treated had a DLT proportion of at least the
   target (the "coherence" restriction).  De-escalation may skip levels.
4. The final selection, when ``max_n`` patients are treated, is the recommended dose on all data,
   without restriction: it may be a dose nobody received (``select_untried = false`` restricts it
   to doses that were given).

Options that practice adds, off by default (named departures from dfcrm):

``estimate = "posterior"``
    Posterior-mean toxicity instead of the plug-in estimate.
``safety_stop``
    After any cohort, stop with no MTD when ``P(P(DLT at the lowest dose) > target | data)``
    exceeds this probability (e.g. 0.9).
``stop_n_at_dose`` (common to all designs)
    Stop, selecting the dose, before a cohort whose dose already holds that many patients.
``select_untried = false``
    The final selection only among doses that were given.
``no_skip = "tried"``
    With ``restrict``: the next dose at most one level above the highest dose tried so far, instead of
    above the dose just given.
``coherence = "dose"``
    With ``restrict``: no escalation above the dose just given while its cumulative DLT proportion
    exceeds the target (``y > target * n``, strictly), instead of the last cohort's proportion
    reaching it.
``stop_n_any_dose``, ``stop_n_lowest_dose``
    Stop after a cohort once any dose, or the lowest dose, holds at least that many patients.
``final = "next"``
    The trial names the dose it would give next (the recommendation under the restrictions, which may
    be one level above the highest dose tried), at the end and at a stop, instead of the unrestricted
    recommendation.

Together, ``no_skip = "tried"``, ``coherence = "dose"`` and ``final = "next"`` are the conventions of the
class ``Crm`` of the R package precautionary (Norris, vignette "MCSE-Free CRM Performance and Safety
Assessment", 2021), whose exact operating characteristics of Braun's (Stat Med 2020;39:4651-66)
calibrated CRM the tests reproduce (docs/published.md).

The skeleton is given, or computed from ``halfwidth`` and ``prior_mtd`` by Lee & Cheung's (2009)
indifference intervals (dfcrm's ``getprior``).  dfcrm integrates the posterior numerator over
``beta`` in [-10, 10] and the denominator over the whole line; here both use the whole support
(the difference is below 1e-17 with the default prior).

The state is the dose of the next cohort, every dose's patients and DLTs (``n0, y0, ...``) and the
final selection on the data so far (``final``, a function of the counts kept so that the last
cohort need not recompute it): histories with equal counts merge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from doseesc.designs.base import RUNNING
from doseesc.designs.common import check_cohort_size, check_int, check_number
from doseesc.designs.counts import CountsDesign
from doseesc.designs.crm_model import WorkingModel, empiric_skeleton, logistic_skeleton

MODELS = ("empiric", "logistic")
ESTIMATES = ("plugin", "posterior")
NO_SKIP = ("given", "tried")
COHERENCE = ("cohort", "dose")
FINALS = ("model", "next")
BATCH = 20_000
"""Rows of counts whose posterior is computed at once (bounds the memory of the quadrature)."""


def closest(estimates: np.ndarray, target: float, allowed: np.ndarray | None = None) -> np.ndarray:
    """Per row, dfcrm's recommended dose: the highest if every estimate is at most ``target``, the
    lowest if every one is at least ``target``, else the closest (an exact tie: the lower).  With
    ``allowed`` (a mask), only among those columns (-1 for a row with none)."""
    k = estimates.shape[1]
    distance = np.abs(estimates - target)
    if allowed is None:
        pick = np.argmin(distance, axis=1)
        pick = np.where((estimates <= target).all(axis=1), k - 1, pick)
        return np.where((estimates >= target).all(axis=1), 0, pick)
    masked = np.where(allowed, estimates, np.nan)
    below = np.where(allowed, estimates <= target, True).all(axis=1)
    above = np.where(allowed, estimates >= target, True).all(axis=1)
    cols = np.arange(k)
    highest = np.where(allowed, cols, -1).max(axis=1)
    lowest = np.where(allowed, cols, k).min(axis=1)
    pick = np.argmin(np.where(allowed, distance, np.inf), axis=1)
    pick = np.where(below, highest, np.where(above, lowest, pick))
    return np.where(np.isnan(masked).all(axis=1), -1, pick)


@dataclass(frozen=True)
class CRM(CountsDesign):
    """The CRM over ``n_doses`` levels (see the module docstring); dfcrm's defaults.

    ``target``: target P(DLT), strictly between 0 and 1.  ``skeleton``: prior guesses of P(DLT),
    increasing, one per dose; if left out, computed from ``halfwidth`` (default 0.05) and
    ``prior_mtd`` (a dose index, default the middle level ``(n_doses - 1) // 2``).  ``model``:
    ``"empiric"`` or ``"logistic"`` (with ``intercept``, default 3).  ``prior_var``: variance of the
    normal prior on ``beta`` (default 1.34).  ``cohort_size``: 1 to 12 (dfcrm's default 1).
    ``max_n``: the sample size N, a multiple of the cohort size (default 30).
    """

    max_n_limit = 500

    target: float = 0.3
    skeleton: tuple[float, ...] | None = None
    halfwidth: float = 0.05
    prior_mtd: int | None = None
    model: str = "empiric"
    intercept: float = 3.0
    prior_var: float = 1.34
    cohort_size: int = 1
    restrict: bool = True
    estimate: str = "plugin"
    safety_stop: float | None = None
    select_untried: bool = True
    no_skip: str = "given"
    coherence: str = "cohort"
    stop_n_any_dose: int | None = None
    stop_n_lowest_dose: int | None = None
    final: str = "model"
    max_n: int | None = field(default=30, kw_only=True)

    def __post_init__(self) -> None:
        check_number("target", self.target, 0.0, 1.0, strict=True)
        check_cohort_size("cohort_size", self.cohort_size)
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, got {self.model!r}")
        for key, allowed in (("estimate", ESTIMATES), ("no_skip", NO_SKIP), ("coherence", COHERENCE)):
            if getattr(self, key) not in allowed:
                raise ValueError(f"{key} must be one of {', '.join(allowed)}, got {getattr(self, key)!r}")
        if self.final not in FINALS:
            raise ValueError(f"final must be one of {', '.join(FINALS)}, got {self.final!r}")
        if not self.restrict and (self.no_skip, self.coherence) != ("given", "cohort"):
            raise ValueError("no_skip and coherence qualify the restrictions: they need restrict = true")
        if self.final == "next" and not self.select_untried:
            raise ValueError(
                "select_untried = false restricts the model's final selection, which final = 'next' replaces"
            )
        for key in ("stop_n_any_dose", "stop_n_lowest_dose"):
            if getattr(self, key) is not None:
                check_int(key, getattr(self, key), 1, self.max_n_limit, " (patients)")
        check_number("prior_var", self.prior_var, 0.01, 100.0)
        check_number("intercept", self.intercept, -10.0, 10.0)
        for key in ("restrict", "select_untried"):
            if not isinstance(getattr(self, key), bool):
                raise ValueError(f"{key} must be true or false, got {getattr(self, key)!r}")
        if self.safety_stop is not None:
            check_number("safety_stop", self.safety_stop, 0.5, 1.0, strict=True)
        if self.skeleton is not None:
            if not isinstance(self.skeleton, list | tuple) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in self.skeleton
            ):
                raise ValueError(f"skeleton must be a list of probabilities, got {self.skeleton!r}")
            object.__setattr__(self, "skeleton", tuple(float(v) for v in self.skeleton))
        if self.max_n is None:
            raise ValueError("max_n must be given: it is the CRM's sample size N (cohorts x cohort_size)")
        super().__post_init__()
        if self.max_n % self.cohort_size:
            raise ValueError(
                f"max_n must be a multiple of cohort_size = {self.cohort_size} (the CRM's sample size N is "
                f"cohorts x cohort_size), got {self.max_n}"
            )
        if self.skeleton is None:
            check_number("halfwidth", self.halfwidth, 1e-3, 0.5, strict=True)
            if not (0 < self.target - self.halfwidth and self.target + self.halfwidth < 1):
                raise ValueError(
                    f"halfwidth must leave target +- halfwidth inside (0, 1) (target {self.target}), "
                    f"got {self.halfwidth}"
                )
            if self.prior_mtd is not None:
                check_int("prior_mtd", self.prior_mtd, 0, self.n_doses - 1, " (a dose index, 0 = lowest)")
        s = self.working.skeleton
        ok = len(s) == self.n_doses and all(0 < v < 1 for v in s) and all(np.diff(s) > 0)
        if not ok:
            raise ValueError(
                f"skeleton must hold {self.n_doses} increasing probabilities strictly between 0 and 1 "
                f"(one per dose), got {list(s)}"
            )
        if self.model == "logistic" and not np.all(self.working.x < 0):
            ceiling = 1 / (1 + np.exp(-self.intercept))
            raise ValueError(
                f"skeleton must stay below 1 / (1 + exp(-intercept)) = {ceiling:.4f} for the logistic model, "
                f"got {list(s)}"
            )

    @cached_property
    def working(self) -> WorkingModel:
        """The working model with its skeleton (given or computed)."""
        if self.skeleton is not None:
            skeleton = tuple(float(v) for v in self.skeleton)
        else:
            nu = (self.n_doses - 1) // 2 if self.prior_mtd is None else self.prior_mtd
            make = empiric_skeleton if self.model == "empiric" else logistic_skeleton
            args = (self.halfwidth, self.target, nu, self.n_doses)
            skeleton = tuple(make(*args) if self.model == "empiric" else make(*args, self.intercept))
        return WorkingModel(skeleton, self.model, self.intercept, self.prior_var)

    @property
    def name(self) -> str:
        return "CRM"

    @property
    def options(self) -> dict[str, Any]:
        defaults = {
            "model": "empiric",
            "intercept": 3.0,
            "prior_var": 1.34,
            "restrict": True,
            "estimate": "plugin",
            "safety_stop": None,
            "select_untried": True,
            "no_skip": "given",
            "coherence": "cohort",
            "stop_n_any_dose": None,
            "stop_n_lowest_dose": None,
            "final": "model",
        }
        if self.model == "empiric":
            defaults.pop("intercept")
        given = {k: getattr(self, k) for k, v in defaults.items() if getattr(self, k) != v}
        skeleton = [round(v, 6) for v in self.working.skeleton]
        return (
            {"target": self.target, "cohort_size": self.cohort_size, "skeleton": skeleton}
            | given
            | self.common_options()
        )

    def estimates(self, n: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``(trials, n_doses)`` the design's estimates of P(DLT) from per-dose counts."""
        m = self.working
        if self.estimate == "posterior":
            return m.posterior_toxicity(n, y)
        return m.psi(m.posterior_mean(n, y))

    def assess(self, n: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """For per-dose counts ``(trials, n_doses)``: the recommended dose (``recommended``), the
        final selection (``final``) and whether the safety stop applies (``unsafe``).  Equal rows
        are computed once."""
        counts = np.ascontiguousarray(np.concatenate([n, y], axis=1), dtype=np.int64)
        # Rows as opaque byte strings: np.unique sorts those several times faster than with axis=0.
        _, first, inverse = np.unique(
            counts.view(np.dtype((np.void, 8 * counts.shape[1]))).ravel(),
            return_index=True,
            return_inverse=True,
        )
        rows = counts[first]
        k = self.n_doses
        out = {key: np.empty(rows.shape[0], dtype=np.int64) for key in ("recommended", "final", "unsafe")}
        for lo in range(0, rows.shape[0], BATCH):
            nb, yb = rows[lo : lo + BATCH, :k], rows[lo : lo + BATCH, k:]
            p = self.estimates(nb, yb)
            out["recommended"][lo : lo + BATCH] = rec = closest(p, self.target)
            out["final"][lo : lo + BATCH] = rec if self.select_untried else closest(p, self.target, nb > 0)
            unsafe = np.zeros(nb.shape[0], dtype=bool)
            if self.safety_stop is not None:
                unsafe = self.working.prob_above(nb, yb, 0, self.target) > self.safety_stop
            out["unsafe"][lo : lo + BATCH] = unsafe
        return {key: v[inverse.ravel()] for key, v in out.items()}

    def decide(
        self, n: np.ndarray, y: np.ndarray, given: np.ndarray, dlt: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``crmsim``'s loop body: the recommended dose under the restrictions, the final selection on
        the data so far, and the stops (the safety stop, the counts of ``stop_n_any_dose`` and
        ``stop_n_lowest_dose``, which select ``final``)."""
        a = self.assess(n, y)
        dose = a["recommended"]
        if self.restrict:
            rows = np.arange(n.shape[0])
            if self.no_skip == "tried":
                ceiling = np.where(n > 0, np.arange(self.n_doses), 0).max(axis=1) + 1
            else:
                ceiling = given + 1
            if self.coherence == "dose":
                toxic = y[rows, given] > self.target * n[rows, given]
            else:
                toxic = dlt / self.cohort_size >= self.target
            dose = np.minimum(dose, np.where(toxic, given, ceiling))
        final = dose if self.final == "next" else a["final"]
        full = np.zeros(n.shape[0], dtype=bool)
        if self.stop_n_any_dose is not None:
            full |= n.max(axis=1) >= self.stop_n_any_dose
        if self.stop_n_lowest_dose is not None:
            full |= n[:, 0] >= self.stop_n_lowest_dose
        selected = np.where(a["unsafe"].astype(bool), -1, np.where(full, final, RUNNING))
        return dose, final, selected
