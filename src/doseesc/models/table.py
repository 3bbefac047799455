"""The simplest toxicity model: one true DLT probability per dose level."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from doseesc.streams import TrialStreams


def validate_probabilities(values: Sequence[float] | np.ndarray, name: str = "p_tox") -> np.ndarray:
    """Return ``values`` as a read-only float array, or raise ``ValueError`` naming ``name``."""
    p = np.asarray(values, dtype=float)
    if p.ndim != 1 or p.size == 0:
        raise ValueError(f"{name} must be a non-empty list of probabilities, one per dose")
    bad = ~((p >= 0.0) & (p <= 1.0))  # NaN fails both comparisons
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{i}] = {p[i]!r} is not a probability: allowed range is [0, 1]")
    p.setflags(write=False)
    return p


@dataclass(frozen=True, eq=False)
class DoseToxicityTable:
    """True DLT probability per dose level (dimensionless, one per level, in increasing dose order).

    Every patient at a dose has the same probability; this is the model behind the textbook
    operating-characteristic tables of the 3+3 design.
    """

    p: np.ndarray
    p_grade2: np.ndarray | None = None
    """Optional probability of a grade-2 (and no worse) toxicity per dose, for designs whose rule
    counts grade-2 events; the patient's uniform gives grade 2 when ``p <= u < p + p_grade2``."""
    events = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "p", validate_probabilities(self.p))
        if self.p_grade2 is not None:
            g = validate_probabilities(self.p_grade2, "p_grade2")
            if g.shape != self.p.shape or np.any(self.p + g > 1 + 1e-12):
                raise ValueError("p_grade2 must have one entry per dose, with p + p_grade2 <= 1")
            object.__setattr__(self, "p_grade2", g)

    @property
    def grade2(self) -> bool:
        """Whether the model gives grade-2 probabilities (a last row of P(grade >= 2))."""
        return self.p_grade2 is not None

    @property
    def n_doses(self) -> int:
        return self.p.shape[0]

    def mean_probabilities(self) -> np.ndarray:
        """Population-averaged DLT probability per dose (what the exact engine needs)."""
        return self.p

    @cached_property
    def probability_table(self) -> np.ndarray:
        """``(1, rows, n_doses)``: one kind of trial; rows P(DLT) and, with grade 2, P(grade >= 2)."""
        rows = [self.p] if self.p_grade2 is None else [self.p, self.p + self.p_grade2]
        table = np.stack(rows)[None]
        table.setflags(write=False)
        return table

    def draw_trials(self, streams: TrialStreams) -> np.ndarray:
        return np.zeros(streams.n_trials, dtype=np.intp)
