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
