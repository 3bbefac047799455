"""The target toxicity and the metrics designers report against it.

Definitions (``p`` the true DLT probability per dose, ``T`` the target, optional band
``[lo, hi]``):

* **true MTD**: the dose whose ``p`` is closest to ``T`` (the lower dose on a tie).  With a band,
  the *acceptable doses* are those with ``lo <= p <= hi``, and the true MTD is the acceptable dose
  closest to ``T``; when none is acceptable and every dose lies above the band, the true MTD is
  None and the correct decision is to stop without a selection; when none is otherwise, the
  acceptable set is the dose closest to ``T`` alone.  Without a band the acceptable set is the
  true MTD.
* ``p_correct``: probability of selecting an acceptable dose (of selecting none when the true MTD is
  None).
* ``p_select_above_mtd``: probability of selecting a dose above every acceptable dose (any dose
  when the true MTD is None).
* ``share_patients_at_mtd`` / ``_above_mtd`` / ``_below_mtd``: expected patients at acceptable
  doses, at doses above all of them, below all of them, each over the expected patients in all
  (a ratio of means, as in Liu & Yuan 2015's "patients allocated to the MTD").
* ``p_total_dlt_at_least``: ``P(total DLTs >= k)`` for ``k = 1 .. 5``.

Simulated results carry a standard error for each (``se_`` + name): binomial for probabilities,
the delta method for the shares (ratios of sums over trials).  Under a toxicity model whose trials
draw their own parameters (a posterior), ``p`` is the population and posterior mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from doseesc.stats import ratio_se

DLT_THRESHOLDS = 5
"""``p_total_dlt_at_least`` covers k = 1 .. DLT_THRESHOLDS."""
TIE = 1e-12
"""Distances to the target closer than this are a tie."""


@dataclass(frozen=True)
class Target:
    """Target probability of a DLT at the MTD (0 < value < 1), with an optional acceptable band
    ``(lo, hi)``, ``lo <= value <= hi``."""

    value: float
    band: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.value < 1.0:
            raise ValueError(f"target must be a probability strictly between 0 and 1, got {self.value!r}")
        if self.band is not None:
            lo, hi = self.band
            if not 0.0 <= lo <= self.value <= hi <= 1.0:
                raise ValueError(
                    f"target band must be (lo, hi) with 0 <= lo <= target ({self.value}) <= hi <= 1, "
                    f"got {self.band!r}"
                )
            object.__setattr__(self, "band", (float(lo), float(hi)))

    @classmethod
    def of(cls, target: Target | float | None, design: Any = None) -> Target | None:
        """``target`` as a :class:`Target` (a number is a target without a band); without one, the
        target of a ``design`` whose rule has one (interval designs), else None."""
        if target is None:
            target = getattr(design, "target", None)
        if target is None or isinstance(target, Target):
            return target
        return cls(float(target))

    def acceptable(self, p: np.ndarray) -> tuple[int | None, np.ndarray]:
        """The true MTD (index or None) and the mask of acceptable doses under true ``p``."""
        p = np.asarray(p, dtype=float)
        true_mtd = _closest(p, self.value, np.ones(p.shape[0], dtype=bool))
        if self.band is None:
            return true_mtd, np.arange(p.shape[0]) == true_mtd
        lo, hi = self.band
        inside = (p >= lo) & (p <= hi)
        if inside.any():
            return _closest(p, self.value, inside), inside
        if np.all(p > hi):
            return None, inside
        return true_mtd, np.arange(p.shape[0]) == true_mtd

    def regions(self, p: np.ndarray) -> np.ndarray:
        """Per dose: 0 below every acceptable dose, 1 acceptable, 2 above every acceptable dose."""
        true_mtd, ok = self.acceptable(p)
        index = np.arange(ok.shape[0])
        if true_mtd is None:
            return np.full(ok.shape[0], 2)
        return np.where(ok, 1, np.where(index > index[ok].max(), 2, 0))


def _closest(p: np.ndarray, target: float, among: np.ndarray) -> int:
    """The dose among ``among`` whose ``p`` is closest to ``target``; a tie within rounding
    (0.2 - 0.15 against 0.25 - 0.2) goes to the lower dose."""
    distance = np.where(among, np.abs(p - target), np.inf)
    return int(np.flatnonzero(distance <= distance.min() + TIE)[0])


@dataclass(frozen=True)
class PatientSplit:
    """Sums over simulated trials of each trial's patients at acceptable doses, above them and in
    all (in that order), and of their pairwise products: what the shares' standard errors
    need."""

    sums: np.ndarray
    products: np.ndarray


def metrics(
    target: Target,
    p: np.ndarray,
    *,
    p_select: np.ndarray,
    p_none: float,
    mean_n: np.ndarray,
    total_dlt_pmf: np.ndarray,
    n_trials: int | None,
    split: PatientSplit | None = None,
) -> dict[str, Any]:
    """The metrics of the module docstring, JSON-ready; ``se_`` twins when ``n_trials`` is given
    (then ``split`` is required for the shares' standard errors)."""
    true_mtd, ok = target.acceptable(p)
    region = target.regions(p)
    if true_mtd is None:
        p_correct, p_above = p_none, float(p_select.sum())
    else:
        p_correct, p_above = float(p_select[ok].sum()), float(p_select[region == 2].sum())
    total = float(mean_n.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = [float(mean_n[region == r].sum() / total) for r in (1, 2, 0)]
    tail = np.cumsum(total_dlt_pmf[::-1])[::-1]  # tail[k] = P(total DLT >= k)
    at_least = [float(tail[k]) if k < tail.shape[0] else 0.0 for k in range(1, DLT_THRESHOLDS + 1)]
    out: dict[str, Any] = {
        "target": target.value,
        "target_band": None if target.band is None else list(target.band),
        "true_mtd": true_mtd,
        "acceptable": ok.tolist(),
        "p_correct": float(p_correct),
        "p_select_above_mtd": p_above,
        "share_patients_at_mtd": shares[0],
        "share_patients_above_mtd": shares[1],
        "share_patients_below_mtd": shares[2],
        "p_total_dlt_at_least": at_least,
    }
    if n_trials is None:
        return out

    def binomial(q: float) -> float:
        return float(np.sqrt(max(q * (1 - q), 0.0) / n_trials))  # q may exceed 1 by rounding

    out |= {
        "se_p_correct": binomial(out["p_correct"]),
        "se_p_select_above_mtd": binomial(p_above),
        "se_p_total_dlt_at_least": [binomial(q) for q in at_least],
    }
    if split is not None:
        for name, v in (("at", (1, 0, 0)), ("above", (0, 1, 0)), ("below", (-1, -1, 1))):
            out[f"se_share_patients_{name}_mtd"] = _ratio_se(split, np.array(v, dtype=float), n_trials)
    return out


def _ratio_se(split: PatientSplit, v: np.ndarray, n: int) -> float:
    """Standard error of sum(v . x_t) / sum(total_t) over ``n`` trials (:func:`ratio_se`)."""
    y = np.array([0.0, 0.0, 1.0])
    return ratio_se(
        float(v @ split.sums),
        float(split.sums[2]),
        float(v @ split.products @ v),
        float(v @ split.products @ y),
        float(y @ split.products @ y),
        n,
    )[1]
