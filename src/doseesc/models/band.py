"""A credible band of risks per dose level: computed from a model's calibration, drawn by figures.

It lives with the models, not the plots, so that building a scenario (:mod:`doseesc.build`) does
not depend on the plotting code."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Band:
    """Posterior median and credible bounds per dose level, with a description."""

    label: str
    median: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


__all__ = ["Band"]
