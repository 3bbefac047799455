"""Dose levels that differ in regimen as well as dose: one toxicity model per regimen, combined."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from doseesc.streams import TrialStreams


@dataclass(frozen=True, eq=False)
class LevelRegimens:
    """A toxicity model whose dose levels differ in regimen as well as dose (e.g. 0.6e6 cells/kg
    once, then twice): ``models[r]`` holds the mechanisms over the distinct dose values with
    regimen ``r``; level ``k`` is dose ``dose_index[k]`` under regimen ``regimen_index[k]``.

    A trial has the same (posterior) parameters whichever regimen its levels have: the models share
    their mechanisms, so a trial kind is one posterior draw for all of them.
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

    def _per_level(self, per_model: list[np.ndarray]) -> np.ndarray:
        """Stack per-model arrays (dose values last) into per-level arrays (levels last)."""
        return np.stack(
            [per_model[r][..., d] for r, d in zip(self.regimen_index, self.dose_index, strict=True)], axis=-1
        )

    @property
    def average_probabilities(self) -> np.ndarray:
        return self._per_level([m.average_probabilities for m in self.models])

    @cached_property
    def probability_table(self) -> np.ndarray:
        """Per trial kind, each level's probabilities: those of its regimen's model at its dose (the
        models share their posterior, so a kind is the same draw in each)."""
        table = self._per_level([m.probability_table for m in self.models])
        table.setflags(write=False)
        return table

    def mean_probabilities(self) -> np.ndarray:
        return self.average_probabilities[0]

    def draw_trials(self, streams: TrialStreams) -> np.ndarray:
        return self.models[0].draw_trials(streams)


__all__ = ["LevelRegimens"]
