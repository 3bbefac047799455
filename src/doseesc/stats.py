"""Moments from sums: the one formula for standard deviations that every result uses."""

from __future__ import annotations

import numpy as np


def sd_from_sums(total: np.ndarray | float, total_sq: np.ndarray | float, n_trials: int | None) -> np.ndarray:
    """Standard deviation from a sum and a sum of squares over ``n_trials`` simulated trials, or,
    with ``n_trials=None``, from exact first and second moments.  One trial has no sample SD (NaN)."""
    if n_trials is None:
        var = np.asarray(total_sq) - np.asarray(total) ** 2
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            var = (np.asarray(total_sq) - np.asarray(total) ** 2 / n_trials) / (n_trials - 1)
    return np.sqrt(np.maximum(var, 0.0))


def ratio_se(sx: float, sy: float, sxx: float, sxy: float, syy: float, n: int) -> tuple[float, float]:
    """The ratio of sums ``R = sum x_t / sum y_t`` over ``n`` trials and its delta-method standard
    error, from the sums and the sums of squares and cross products of ``x_t`` and ``y_t``: with
    residuals ``d_t = x_t - R y_t``, ``Var(R) ~ sum d_t^2 / (sum y)^2 * n / (n - 1)``.  NaN where
    undefined (no ``y``, or a single trial)."""
    if sy == 0:
        return float("nan"), float("nan")
    r = sx / sy
    if n < 2:
        return r, float("nan")
    sdd = sxx - 2 * r * sxy + r * r * syy
    return r, float(np.sqrt(max(sdd, 0.0) / sy**2 * n / (n - 1)))
