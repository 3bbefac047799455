"""Vectorized Monte Carlo estimation of operating characteristics.

All trials of a chunk advance together: each step draws one uniform per patient of every running
trial's next cohort, counts DLTs, and moves each trial through the design's tabulated rule
(:func:`doseesc.designs.compile_design`) with a single look-up.  What is kept are integer tallies
(cohort outcomes per state, selections, totals), so results from chunks add up exactly.

Reproducibility: trials are grouped in blocks of :data:`BLOCK_TRIALS`, the unit of randomness; block
``b`` draws only from the generator of child ``b`` of ``SeedSequence(seed)``, in a fixed order.  A
chunk (the unit of memory and of work for a worker process) is a run of whole blocks, so the result
for a seed is bit-identical whatever the chunk size or the number of worker processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from doseesc.designs.base import DecisionTable, Design, compile_design
from doseesc.models.table import validate_probabilities
from doseesc.results import OperatingCharacteristics

BLOCK_TRIALS = 1 << 14
"""Trials per block, the unit of randomness (part of what a seed means: do not change lightly)."""

DEFAULT_CHUNK_TRIALS = 1 << 20


@dataclass
class _Tally:
    """Integer sums over simulated trials."""

    weights: np.ndarray  # (n_live, max_size + 1) cohorts per (state, DLT count)
    selected: np.ndarray  # (n_doses + 1,) trials per selected dose, index 0 = none
    total_n: np.ndarray  # (max_patients + 1,) trials per total sample size
    total_dlt: np.ndarray  # (max_patients + 1,) trials per total DLT count

    def __iadd__(self, other: _Tally) -> _Tally:
        for name in ("weights", "selected", "total_n", "total_dlt"):
            getattr(self, name).__iadd__(getattr(other, name))
        return self


def _run_chunk(
    table: DecisionTable, p_tox: np.ndarray, blocks: Sequence[tuple[np.random.SeedSequence, int]]
) -> _Tally:
    """Simulate the trials of a run of blocks to the end; ``blocks`` holds (seed, trials) pairs."""
    n_live, width, levels = table.n_live, table.max_size + 1, table.max_patients + 1
    cohort = table.max_size
    uniform_size = bool(np.all(table.size == cohort))
    next_flat = table.next.ravel()
    p_state = p_tox[table.dose]
    size_state = table.size.astype(np.int16)
    tally = _Tally(
        weights=np.zeros(n_live * width, dtype=np.int64),
        selected=np.zeros(table.n_doses + 1, dtype=np.int64),
        total_n=np.zeros(levels, dtype=np.int64),
        total_dlt=np.zeros(levels, dtype=np.int64),
    )

    gens = [np.random.Generator(np.random.PCG64(seq)) for seq, _ in blocks]
    counts = np.array([c for _, c in blocks], dtype=np.int64)
    total = int(counts.sum())
    state = np.zeros(total, dtype=np.int32)
    dlt_so_far = np.zeros(total, dtype=np.int16)
    n_so_far = None if uniform_size else np.zeros(total, dtype=np.int16)
    u = np.empty((cohort, total))
    step = 0
    while total:
        lo = 0
        for g, c in zip(gens, counts, strict=True):
            for j in range(cohort):
                g.random(out=u[j, lo : lo + c])
            lo += c
        # np.take and np.compress: several times faster than fancy and boolean indexing here.
        p = np.take(p_state, state)
        dlt = (u[0, :total] < p).view(np.int8)
        for j in range(1, cohort):
            patient = u[j, :total] < p
            if not uniform_size:
                patient &= np.take(size_state, state) > j
            dlt = dlt + patient.view(np.int8)
        outcome = state * width + dlt
        tally.weights += np.bincount(outcome, minlength=n_live * width)
        if n_so_far is not None:
            n_so_far += np.take(size_state, state)
        state = np.take(next_flat, outcome)
        dlt_so_far += dlt
        step += 1

        done = state >= n_live
        n_done = int(np.count_nonzero(done))
        if n_done == 0:
            continue
        tally.selected += np.bincount(np.compress(done, state) - n_live, minlength=table.n_doses + 1)
        tally.total_dlt += np.bincount(np.compress(done, dlt_so_far), minlength=levels)
        if n_so_far is None:
            tally.total_n[step * cohort] += n_done
        else:
            tally.total_n += np.bincount(np.compress(done, n_so_far), minlength=levels)
            n_so_far = np.compress(~done, n_so_far)
        keep = ~done
        counts = np.add.reduceat(keep, np.cumsum(counts) - counts, dtype=np.int64)
        gens = [g for g, c in zip(gens, counts, strict=True) if c]
        counts = counts[counts > 0]
        state = np.compress(keep, state)
        dlt_so_far = np.compress(keep, dlt_so_far)
        total -= n_done
    tally.weights = tally.weights.reshape(n_live, width)
    return tally


def simulate(
    design: Design,
    p_tox: np.ndarray,
    n_trials: int,
    seed: int | None = None,
    *,
    chunk_trials: int = DEFAULT_CHUNK_TRIALS,
    jobs: int = 1,
) -> OperatingCharacteristics:
    """Estimate the operating characteristics of ``design`` from ``n_trials`` simulated trials.

    ``p_tox[d]`` is each patient's DLT probability at dose ``d``.  ``seed`` (an integer, or None for
    fresh entropy, recorded in the result) fixes the answer bit for bit; ``chunk_trials`` bounds the
    trials held in memory at once (rounded up to whole blocks of :data:`BLOCK_TRIALS`) and ``jobs`` is
    the number of worker processes; neither changes the result.
    """
    p = validate_probabilities(p_tox)
    if p.shape[0] != design.n_doses:
        raise ValueError(f"p_tox has {p.shape[0]} doses but the design has {design.n_doses}")
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}")
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if chunk_trials < 1:
        raise ValueError(f"chunk_trials must be at least 1, got {chunk_trials}")
    table = compile_design(design)
    root = np.random.SeedSequence(seed)
    n_blocks = -(-n_trials // BLOCK_TRIALS)
    sizes = [BLOCK_TRIALS] * (n_blocks - 1) + [n_trials - BLOCK_TRIALS * (n_blocks - 1)]
    blocks = list(zip(root.spawn(n_blocks), sizes, strict=True))
    per_chunk = max(1, -(-chunk_trials // BLOCK_TRIALS))
    chunks = [blocks[i : i + per_chunk] for i in range(0, n_blocks, per_chunk)]

    if jobs == 1 or len(chunks) == 1:
        tallies = (_run_chunk(table, p, chunk) for chunk in chunks)
        tally = _sum(tallies)
    else:
        with ProcessPoolExecutor(max_workers=min(jobs, len(chunks))) as pool:
            tally = _sum(pool.map(_run_chunk, [table] * len(chunks), [p] * len(chunks), chunks))

    return OperatingCharacteristics.from_sums(
        table=table,
        weights=tally.weights,
        selected=tally.selected,
        total_n=tally.total_n,
        total_dlt=float(tally.total_dlt @ np.arange(tally.total_dlt.shape[0])),
        total_dlt_sq=float(tally.total_dlt @ np.arange(tally.total_dlt.shape[0]) ** 2),
        n_trials=n_trials,
        design=design.name,
        options=design.options,
        engine="mc",
        p_tox=p,
        seed=int(root.entropy) if isinstance(root.entropy, int) else None,
    )


def _sum(tallies) -> _Tally:
    it = iter(tallies)
    total = next(it)
    for t in it:
        total += t
    return total
