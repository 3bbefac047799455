"""Dose levels that differ in regimen as well as dose: one toxicity model per regimen, combined."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from doseesc.streams import ReplayStreams, TrialStreams


@dataclass(frozen=True, eq=False)
class LevelRegimens:
    """A toxicity model whose dose levels differ in regimen as well as dose (e.g. 0.6e6 cells/kg
    once, then twice): ``models[r]`` holds the mechanisms over the distinct dose values with
    regimen ``r``; level ``k`` is dose ``dose_index[k]`` under regimen ``regimen_index[k]``.

    Patients of a cohort have the same covariates and (posterior) parameters whichever regimen
    their level has: the covariates are drawn once and shown to every model.
    """

    models: tuple[Any, ...]
    regimen_index: tuple[int, ...]
    dose_index: tuple[int, ...]

    @property
    def n_doses(self) -> int:
        return len(self.regimen_index)

    @property
    def events(self) -> tuple[str, ...]:
        return self.models[0].events

    @property
    def independent_patients(self) -> bool:
        return self.models[0].independent_patients

    @property
    def average_probabilities(self) -> np.ndarray:
        per_model = [m.average_probabilities for m in self.models]
        return np.stack(
            [per_model[r][:, d] for r, d in zip(self.regimen_index, self.dose_index, strict=True)], axis=1
        )

    def mean_probabilities(self) -> np.ndarray:
        return self.average_probabilities[0]

    def draw_trials(self, streams: TrialStreams) -> np.ndarray:
        return self.models[0].draw_trials(streams)  # the models share their mechanisms' parameters

    def patient_probabilities(
        self, streams: TrialStreams, dose: np.ndarray, params: np.ndarray, size: int
    ) -> np.ndarray:
        regimen = np.take(self.regimen_index, dose)
        at = np.take(self.dose_index, dose)
        replay = ReplayStreams(streams)
        out = None
        for r, model in enumerate(self.models):
            q = model.patient_probabilities(replay, at, params, size)
            replay.rewind()
            out = q if out is None else np.where(regimen == r, q, out)
        return out


__all__ = ["LevelRegimens"]
