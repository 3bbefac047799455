"""Monte Carlo over a lazily tabulated rule (:class:`~doseesc.designs.lazy.LazyTable`), for designs
with more reachable states than the exact tabulation allows.

Trials advance together one cohort at a time, as in :mod:`doseesc.engines.montecarlo`; before each
step the states the running trials are in get their decisions tabulated if they are new.  Each
cohort's DLT count is drawn from its exact distribution with one uniform (the inverse of the
binomial distribution function of its size and dose).  Patients are exchangeable: a model with
patient covariates contributes its population-average P(DLT) per dose, which is exact for a
single course because patients are independent; a model that draws trial-level parameters
(posterior draws) correlates a trial's patients and is refused here.

Tallies are per dose (patients, DLTs and their per-trial squares), never per state, so chunks from
different processes (whose tables number states differently) add up.  Reproducibility: blocks of
:data:`BLOCK_TRIALS` trials, block ``b`` drawing only from child ``b`` of ``SeedSequence(seed)``;
a block's uniforms are drawn for its running trials in trial order at each step, so the result for
a seed is bit-identical whatever the chunking or the number of worker processes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.stats import binom

from doseesc.designs.base import Design
from doseesc.designs.lazy import LazyTable
from doseesc.engines.parallel import map_chunks, recorded_seed, reported, split_blocks
from doseesc.metrics import PatientSplit, Target
from doseesc.models.table import DoseToxicityTable
from doseesc.results import OperatingCharacteristics

BLOCK_TRIALS = 1 << 14
"""Trials per block, the unit of randomness (part of what a seed means)."""
DEFAULT_CHUNK_TRIALS = 1 << 17


@dataclass
class _Tally:
    selected: np.ndarray  # (K + 1,) trials per selected dose, index 0 = none
    sums: np.ndarray  # (4, K) patients, their squares, DLTs, their squares, summed over trials
    total_n: np.ndarray  # (max_n + 1,) trials per total sample size
    total_dlt: np.ndarray  # (max_n + 1,) trials per total DLT count
    split: np.ndarray  # (3,) patients at / above the acceptable doses and in all
    split_products: np.ndarray  # (3, 3)

    def __iadd__(self, other: _Tally) -> _Tally:
        for name in self.__dataclass_fields__:
            getattr(self, name).__iadd__(getattr(other, name))
        return self


@lru_cache(maxsize=4)
def _table(design: Design) -> LazyTable:
    """One lazy table per design and process, kept across the chunks a process runs."""
    return LazyTable(design)


def _run_chunk(
    design: Design,
    p_tox: np.ndarray,
    region: np.ndarray | None,
    max_n: int,
    blocks: Sequence[tuple[np.random.SeedSequence, int]],
) -> _Tally:
    table = _table(design)
    k = table.n_doses
    c = table.max_cohort
    # cdf[size, dose, j] = P(Binomial(size, p_dose) <= j) for j < size, 1 beyond (never exceeded).
    cdf = np.ones((c + 1, k, c))
    for size in range(1, c + 1):
        cdf[size, :, :size] = binom.cdf(np.arange(size), size, p_tox[:, None])
    tally = _Tally(
        selected=np.zeros(k + 1, dtype=np.int64),
        sums=np.zeros((4, k), dtype=np.int64),
        total_n=np.zeros(max_n + 1, dtype=np.int64),
        total_dlt=np.zeros(max_n + 1, dtype=np.int64),
        split=np.zeros(3, dtype=np.int64),
        split_products=np.zeros((3, 3), dtype=np.int64),
    )
    for seq, count in blocks:
        gen = np.random.Generator(np.random.PCG64(seq))
        state = np.zeros(count, dtype=np.int64)
        trial = np.arange(count)
        n = np.zeros((count, k), dtype=np.int64)
        y = np.zeros((count, k), dtype=np.int64)
        while trial.size:
            table.reach(state)
            dose, size = table.dose[state], table.size[state]
            u = gen.random(trial.size)
            dlt = (u[:, None] >= cdf[size, dose]).sum(axis=1)
            n[trial, dose] += size
            y[trial, dose] += dlt
            state = table.next[state, dlt]
            done = state < 0
            if done.any():
                tally.selected += np.bincount(-state[done] - 1, minlength=k + 1)
            state, trial = state[~done], trial[~done]
        tally.sums += np.stack([n.sum(axis=0), (n * n).sum(axis=0), y.sum(axis=0), (y * y).sum(axis=0)])
        tally.total_n += np.bincount(n.sum(axis=1), minlength=max_n + 1)
        tally.total_dlt += np.bincount(y.sum(axis=1), minlength=max_n + 1)
        if region is not None:
            x = np.stack([n[:, region == 1].sum(axis=1), n[:, region == 2].sum(axis=1), n.sum(axis=1)])
            tally.split += x.sum(axis=1)
            tally.split_products += x @ x.T
    return tally


def simulate_reached(
    design: Design,
    model: DoseToxicityTable | Sequence[float] | np.ndarray,
    n_trials: int,
    seed: int | None = None,
    *,
    chunk_trials: int = DEFAULT_CHUNK_TRIALS,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
    target: Target | float | None = None,
    partial: tuple | None = None,
) -> OperatingCharacteristics:
    """Operating characteristics of ``design`` from ``n_trials`` simulated trials, tabulating its
    decisions only for the states the trials reach (see the module docstring).  ``model``: DLT
    probabilities per dose, or a model whose patients differ only by covariates.  ``seed``,
    ``chunk_trials``, ``jobs``, ``progress`` and ``target`` as in
    :func:`doseesc.engines.montecarlo.simulate`; ``partial``: what a stopped full tabulation found
    (:class:`~doseesc.designs.base.TooManyStates`), reused by the trials run in this process."""
    target = Target.of(target, design)
    if "g2" in design.outcomes:
        raise ValueError(
            f"the {design.name} design counts grade-2 toxicities: use the tabulated Monte Carlo engine"
        )
    if not hasattr(model, "probability_table"):
        model = DoseToxicityTable(np.asarray(model, dtype=float))
    if model.probability_table.shape[0] > 1:
        raise ValueError(
            f"{design.name}: the model draws trial-level parameters (posterior draws), which the Monte Carlo "
            "engine for untabulated designs does not support; use fewer doses or a smaller max_n"
        )
    if model.n_doses != design.n_doses:
        raise ValueError(f"p_tox has {model.n_doses} doses but the design has {design.n_doses}")
    max_n = getattr(design, "max_n", None)
    if max_n is None:
        raise ValueError(f"{design.name}: give it a max_n to simulate it without tabulating every state")
    p = np.asarray(model.mean_probabilities(), dtype=float)
    region = None if target is None else target.regions(p)
    root, chunks = split_blocks(n_trials, seed, chunk_trials, jobs, BLOCK_TRIALS)
    table = _table(design)
    if partial is not None and (jobs == 1 or len(chunks) <= 1) and table.n_states == 1:
        table.adopt(partial)  # worker processes would receive a copy: they tabulate their own
    tallies = reported(
        map_chunks(_run_chunk, (design, p, region, max_n), [(c,) for c in chunks], jobs), chunks, progress
    )
    tally = next(tallies)
    for t in tallies:
        tally += t
    m = np.arange(max_n + 1)
    sums = dict(zip(("n", "n2", "y", "y2"), tally.sums.astype(float), strict=True))
    split = (
        None
        if target is None
        else PatientSplit(tally.split.astype(float), tally.split_products.astype(float))
    )
    return OperatingCharacteristics.from_sums(
        design=design,
        table=None,
        weights=None,
        selected=tally.selected,
        total_n=tally.total_n,
        total_dlt=float(tally.total_dlt @ m),
        total_dlt_sq=float(tally.total_dlt @ m**2),
        total_dlt_counts=tally.total_dlt,
        n_trials=n_trials,
        p_tox=p,
        target=target,
        split=split,
        sums=sums,
        engine="mc",
        seed=recorded_seed(root),
    )
