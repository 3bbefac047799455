"""How every simulation engine splits a run into seeded blocks and runs its chunks.

Trials are grouped in blocks, the unit of randomness: block ``b`` draws only from child ``b`` of
``SeedSequence(seed)``.  A chunk, the unit of memory and of work for a worker process, is a run of
whole blocks; chunks are run in this process or in ``jobs`` worker processes and their results come
back in chunk order, so a seed gives the same answer whatever the chunking or the number of workers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


class Blocks(Sequence[tuple[np.random.SeedSequence, int]]):
    """A run of consecutive blocks of a run, ``first`` to ``first + len(sizes) - 1``, as (seed,
    trials) pairs; every block of the run but its last holds ``block_trials`` trials.

    Block ``b``'s seed is child ``b`` of ``root`` (what ``root.spawn`` would give), made when the
    pair is read: an engine that draws from ``root`` itself (:mod:`doseesc.engines.pathtree`) reads
    ``root``, ``first`` and ``sizes`` and never pays for the children (about 15 us each)."""

    def __init__(
        self, root: np.random.SeedSequence, first: int, sizes: Sequence[int], block_trials: int
    ) -> None:
        self.root, self.first, self.sizes, self.block_trials = root, first, tuple(sizes), block_trials

    def __len__(self) -> int:
        return len(self.sizes)

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            start, stop, step = i.indices(len(self.sizes))
            if step != 1:
                raise ValueError("Blocks are sliced in runs of consecutive blocks")
            return Blocks(self.root, self.first + start, self.sizes[start:stop], self.block_trials)
        b = range(len(self.sizes))[i]
        root = self.root
        child = np.random.SeedSequence(
            root.entropy, spawn_key=(*root.spawn_key, self.first + b), pool_size=root.pool_size
        )
        return child, self.sizes[b]

    @property
    def n_trials(self) -> int:
        return sum(self.sizes)


def split_blocks(
    n_trials: int, seed: int | None, chunk_trials: int, jobs: int, block_trials: int
) -> tuple[np.random.SeedSequence, list[Blocks]]:
    """The root seed sequence and the chunks (runs of whole blocks of (seed, trials)) of a run."""
    for name, value in (("n_trials", n_trials), ("jobs", jobs), ("chunk_trials", chunk_trials)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    root = np.random.SeedSequence(seed)
    n_blocks = -(-n_trials // block_trials)
    sizes = [block_trials] * (n_blocks - 1) + [n_trials - block_trials * (n_blocks - 1)]
    per_chunk = max(1, -(-chunk_trials // block_trials))
    return root, [
        Blocks(root, i, sizes[i : i + per_chunk], block_trials) for i in range(0, n_blocks, per_chunk)
    ]


def map_chunks(
    fn: Callable[..., T], fixed: Sequence[Any], varying: Sequence[Sequence[Any]], jobs: int
) -> Iterator[T]:
    """``fn(*fixed, *v)`` for each ``v`` in ``varying``, yielded in order; in worker processes when
    ``jobs`` > 1 and there is more than one chunk."""
    if jobs == 1 or len(varying) <= 1:
        for v in varying:
            yield fn(*fixed, *v)
        return
    # Imported here: the process machinery is a sizeable share of a one-process run's start-up.
    from concurrent.futures import ProcessPoolExecutor

    from doseesc.interrupts import die_with_parent

    n = len(varying)
    columns = [[x] * n for x in fixed] + [list(c) for c in zip(*varying, strict=True)]
    workers = min(jobs, n, os.cpu_count() or 1)
    with ProcessPoolExecutor(max_workers=workers, initializer=die_with_parent) as pool:
        yield from pool.map(fn, *columns)


def reported(
    results: Iterable[T], chunks: Sequence[Blocks], progress: Callable[[int], None] | None
) -> Iterator[T]:
    """``results`` (one per chunk, in order), calling ``progress`` with the trials done after each."""
    done = 0
    for result, chunk in zip(results, chunks, strict=True):
        done += chunk.n_trials
        if progress is not None:
            progress(done)
        yield result


def recorded_seed(root: np.random.SeedSequence) -> int | None:
    """The seed to report: the integer that reproduces the run (fresh entropy when none was given)."""
    return int(root.entropy) if isinstance(root.entropy, int) else None
