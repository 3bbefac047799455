"""Random numbers for the running trials of a chunk, drawn block by block.

Trials are grouped in blocks, the unit of randomness: every number a trial of block ``b`` consumes
comes from block ``b``'s own generator, in an order that depends on that block alone.  A chunk holds
several blocks side by side; :class:`TrialStreams` fills arrays whose last axis runs over the chunk's
running trials (block after block), so models and engines draw for the whole chunk in one call and
the numbers do not depend on which other blocks share the chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


class TrialStreams:
    """Per-block generators for the running trials of a chunk (trial axis last)."""

    def __init__(self, seeds: Sequence[np.random.SeedSequence], counts: Sequence[int]) -> None:
        self._gens = [np.random.Generator(np.random.PCG64(s)) for s in seeds]
        self._counts = np.asarray(counts, dtype=np.int64)

    @property
    def n_trials(self) -> int:
        """Running trials in the chunk."""
        return int(self._counts.sum())

    def draw(self, fn: Callable[[np.random.Generator, tuple[int, ...]], np.ndarray], rows: int) -> np.ndarray:
        """``(rows, n_trials)`` array whose block ``b`` columns are ``fn(generator_b, (rows, count_b))``."""
        out = np.empty((rows, self.n_trials))
        lo = 0
        for g, c in zip(self._gens, self._counts, strict=True):
            out[:, lo : lo + c] = fn(g, (rows, int(c)))
            lo += c
        return out

    def random(self, rows: int, out: np.ndarray | None = None) -> np.ndarray:
        """``(rows, n_trials)`` uniforms on [0, 1); ``out`` (C-contiguous, at least that large) is reused."""
        n = self.n_trials
        if out is None:
            out = np.empty((rows, n))
        lo = 0
        for g, c in zip(self._gens, self._counts, strict=True):
            for j in range(rows):
                g.random(out=out[j, lo : lo + c])
            lo += c
        return out[:rows, :n]

    def standard_normal(self, rows: int) -> np.ndarray:
        return self.draw(lambda g, shape: g.standard_normal(shape), rows)

    def keep(self, running: np.ndarray) -> None:
        """Drop the trials where ``running`` is False (a mask over the current trial axis)."""
        starts = np.cumsum(self._counts) - self._counts
        counts = np.add.reduceat(running, starts, dtype=np.int64)
        self._gens = [g for g, c in zip(self._gens, counts, strict=True) if c]
        self._counts = counts[counts > 0]


class ReplayStreams:
    """Random streams seen by several models in turn: the first pass draws from ``streams`` and
    records, each later pass (after :meth:`rewind`) replays the same numbers.

    This is how the per-regimen models of
    :class:`~doseesc.models.regimens.LevelRegimens` see the same patients (covariates, parameters)."""

    def __init__(self, streams: TrialStreams) -> None:
        self._streams = streams
        self._record: list[np.ndarray] = []
        self._next = 0
        self.n_trials = streams.n_trials

    def rewind(self) -> None:
        self._next = 0

    def _take(self, draw: Callable[[], np.ndarray]) -> np.ndarray:
        if self._next == len(self._record):
            self._record.append(np.array(draw()))
        out = self._record[self._next]
        self._next += 1
        return out.copy()

    def random(self, rows: int, out: np.ndarray | None = None) -> np.ndarray:
        return self._take(lambda: self._streams.random(rows))

    def standard_normal(self, rows: int) -> np.ndarray:
        return self._take(lambda: self._streams.standard_normal(rows))

    def draw(self, fn: Callable[[np.random.Generator, tuple[int, ...]], np.ndarray], rows: int) -> np.ndarray:
        return self._take(lambda: self._streams.draw(fn, rows))
