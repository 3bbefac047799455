"""Random numbers for the running trials of a chunk, drawn block by block.

Trials are grouped in blocks, the unit of randomness: every number a trial of block ``b`` consumes
comes from block ``b``'s own generator, in an order that depends on that block alone.  A chunk holds
several blocks side by side; :class:`TrialStreams` fills arrays whose last axis runs over the chunk's
running trials (block after block), so models and engines draw for the whole chunk in one call and
the numbers do not depend on which other blocks share the chunk.

:class:`PatientUniforms` gives common random numbers: the uniform of the k-th patient of a trial
whatever the design (see :meth:`TrialStreams.patient_uniforms`).
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

    def raw(self) -> np.ndarray:
        """``(n_trials,)`` raw 64-bit outputs of the generators (``random()`` makes its uniform from
        the top 53 bits of one)."""
        if len(self._gens) == 1:
            return self._gens[0].bit_generator.random_raw(int(self._counts[0]))
        out = np.empty(self.n_trials, dtype=np.uint64)
        lo = 0
        for g, c in zip(self._gens, self._counts, strict=True):
            out[lo : lo + c] = g.bit_generator.random_raw(int(c))
            lo += c
        return out

    def standard_normal(self, rows: int) -> np.ndarray:
        return self.draw(lambda g, shape: g.standard_normal(shape), rows)

    def patient_uniforms(self) -> PatientUniforms:
        """The patients' uniforms as common random numbers, for the trials now running (call it
        before any has finished, after the trials' parameters are drawn).

        Each block's uniforms come from its generator jumped ahead (``bit_generator.jumped()``, a
        stream that does not overlap the numbers the block's generator itself goes on to give, e.g.
        patient covariates), taken at this point: what the block drew before (its trials'
        parameters) does not depend on the design, so neither do the uniforms."""
        gens = [np.random.Generator(g.bit_generator.jumped()) for g in self._gens]
        return PatientUniforms(gens, self._counts)

    def keep(self, running: np.ndarray) -> None:
        """Drop the trials where ``running`` is False (a mask over the current trial axis)."""
        if len(self._gens) == 1:
            count = np.count_nonzero(running)
            self._gens, self._counts = (self._gens, np.array([count])) if count else ([], self._counts[:0])
            return
        starts = np.cumsum(self._counts) - self._counts
        counts = np.add.reduceat(running, starts, dtype=np.int64)
        self._gens = [g for g, c in zip(self._gens, counts, strict=True) if c]
        self._counts = counts[counts > 0]


class PatientUniforms:
    """Common random numbers: one uniform per (trial, patient index), the same for any design.

    Row ``k`` of block ``b`` (the uniforms of patient ``k``, counted from 0 in order of treatment, of
    every trial of the block, running or not) is the ``k``-th ``generator_b.random(count_b)``: rows
    are drawn in order, lazily, as the running trials need them, so a trial's ``k``-th patient gets
    the same number whichever design it follows, whatever the cohort sizes and whichever other
    trials are still running.  A block whose trials have all finished draws no more rows.

    Memory: rows are held for every trial of the chunk (8 bytes a number), in a ring that keeps the
    rows from the fewest patients any running trial has had to the most plus a cohort; the rows
    every running trial has passed are reused.  With one cohort size throughout (the running trials
    move in step) that is a cohort's rows; with sizes that vary, at most (patients per trial) x
    (trials in the chunk) x 8 bytes.
    """

    def __init__(self, gens: Sequence[np.random.Generator], counts: Sequence[int]) -> None:
        self._gens = list(gens)
        counts = np.asarray(counts, dtype=np.int64)
        self._starts = np.cumsum(counts) - counts
        self._ends = np.cumsum(counts)
        self._n = int(counts.sum())
        self._ring = np.empty((0, self._n))  # row k (patient k) at k % capacity
        self._lo = 0  # the first row still needed
        self._drawn = 0  # rows drawn so far (by the blocks still drawing)
        self._live = np.ones(len(self._gens), dtype=bool)  # blocks still drawing rows

    def take(self, trials: np.ndarray, first: np.ndarray | int, size: int) -> np.ndarray:
        """``(size, len(trials))`` uniforms: ``[i, j]`` that of patient ``first[j] + i`` of trial
        ``trials[j]`` (``first`` may be one number for all; ``trials`` indexes the chunk's trials as
        at the start, in ascending order: the running trials).  The rows of patients below the
        least ``first`` are freed, so ``first`` may not decrease; the array returned may be a view,
        valid until the next call."""
        scalar = np.ndim(first) == 0
        lo = int(first) if scalar else int(first.min())
        hi = lo + size if scalar else int(first.max()) + size
        self._hold(trials, lo, hi)
        ring, cap, n = self._ring, self._ring.shape[0], self._n
        if scalar:
            at = lo % cap
            block = (
                ring[at : at + size] if at + size <= cap else np.take(ring, (lo + np.arange(size)) % cap, 0)
            )
            return block if trials.shape[0] == n else np.take(block, trials, axis=1)
        index = first.astype(np.int64)[None, :] + np.arange(size)[:, None]
        if hi > cap:
            index %= cap
        index *= n
        index += trials
        return np.take(ring.ravel(), index)

    def _hold(self, trials: np.ndarray, lo: int, hi: int) -> None:
        """Hold rows ``lo`` to ``hi`` (exclusive) of the blocks with a trial in ``trials``."""
        if lo < self._lo:
            raise ValueError("patients' uniforms are freed once every running trial has passed them")
        self._lo = lo
        if hi <= self._drawn:
            return
        cap = self._ring.shape[0]
        if hi - lo > cap:  # grow the ring, moving the rows still needed
            old, cap = self._ring, max(2 * cap, hi - lo)
            self._ring = np.empty((cap, self._n))
            for k in range(lo, self._drawn):
                self._ring[k % cap] = old[k % old.shape[0]]
        # Blocks with no running trial stop drawing (never to resume: trials only finish).
        self._live &= np.searchsorted(trials, self._ends) > np.searchsorted(trials, self._starts)
        for b in np.flatnonzero(self._live):
            g, s, e = self._gens[b], self._starts[b], self._ends[b]
            for k in range(self._drawn, hi):
                g.random(out=self._ring[k % cap, s:e])
        self._drawn = hi
