"""What the engines ask of a toxicity model."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from doseesc.streams import TrialStreams


class ToxicityModel(Protocol):
    """Per-patient probability of a dose-limiting toxicity (DLT), and of named kinds of DLT.

    Arrays have the trial axis last.  Each patient gets one uniform ``u``: a DLT when ``u < q[0]``,
    and event ``e`` (a kind of DLT, e.g. severe bleeding) when ``u < q[1 + e]``, so every event is a
    DLT and has exactly its own probability.
    """

    n_doses: int
    events: tuple[str, ...]
    """Names of the kinds of DLT tallied separately (may be empty)."""

    def mean_probabilities(self) -> np.ndarray:
        """(n_doses,) population-averaged DLT probability per dose (the exact engine's input)."""
        ...

    def draw_trials(self, streams: TrialStreams) -> np.ndarray:
        """(n_params, n_trials) parameters each trial draws once at its start (e.g. from a
        posterior); ``n_params`` may be 0."""
        ...

    def patient_probabilities(
        self, streams: TrialStreams, dose: np.ndarray, params: np.ndarray, size: int
    ) -> np.ndarray:
        """(1 + len(events), size or 1, n_trials) probabilities ``q`` for the ``size`` patients of each
        trial's next cohort at dose index ``dose``; covariates are drawn from ``streams``."""
        ...
