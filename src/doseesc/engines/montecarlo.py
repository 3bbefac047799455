"""Vectorized Monte Carlo estimation of operating characteristics.

All trials of a chunk advance together: each step draws one uniform for every running trial's next
cohort and turns it into the cohort's outcome (DLTs, the events tallied, grade 2 where the design
reads it) by inverting its exact distribution (:mod:`doseesc.engines.cohorts`: multinomial over the
patients' categories, tabulated per trial kind, dose and cohort size), then moves each trial through
the design's tabulated rule (:func:`doseesc.designs.compile_design`) with a single look-up.  What is
kept are integer tallies (cohort outcomes per state, selections, totals), so results from chunks add
up exactly.  Where every trial has the same outcome distributions and the design's paths are few
(the 3+3 and the other A+B designs on a dose-toxicity curve), each trial is instead one draw from
the exact distribution of the design's paths (:mod:`doseesc.engines.pathtree`): one uniform per
trial, and the tallies read from where the trials ended (a seed's result then differs from the
step engine's, with the same distribution).

Reproducibility: trials are grouped in blocks of :data:`BLOCK_TRIALS`, the unit of randomness; block
``b`` draws only from the generator of child ``b`` of ``SeedSequence(seed)``, in a fixed order (on
the tree of paths, from the positions of its trials in two streams of the seed itself, see
:mod:`doseesc.engines.pathtree`).  A chunk (the unit of memory and of work for a worker process) is
a run of whole blocks, so the result for a seed is bit-identical whatever the chunk size or the
number of worker processes.

Common random numbers (``simulate(..., common_random_numbers=True)``): the k-th patient of trial t
gets the same uniform whatever the design (:class:`~doseesc.streams.PatientUniforms`), so designs
run with one seed on one model see the same patients and their differences have small standard
errors.  That takes one uniform per patient, each compared with the patient's probabilities; by
default each cohort takes one uniform, which is faster but ties the numbers to the design.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from doseesc.designs.base import MAX_STATES, DecisionTable, Design, TooManyStates, compile_design
from doseesc.engines.cohorts import CohortOutcomes
from doseesc.engines.parallel import Blocks, map_chunks, recorded_seed, reported, split_blocks
from doseesc.engines.pathtree import MAX_NODES, PathTree, leaf_sums
from doseesc.engines.records import Records, check_records
from doseesc.metrics import PatientSplit, Target
from doseesc.models.base import ToxicityModel
from doseesc.models.table import DoseToxicityTable
from doseesc.results import OperatingCharacteristics
from doseesc.streams import PatientUniforms, TrialStreams

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
    events: np.ndarray  # (n_events, n_doses) events per dose, summed over trials
    events_sq: np.ndarray  # (n_events, n_doses) per-trial squares, summed
    total_events_sq: np.ndarray  # (n_events,) squares of per-trial totals, summed
    split: np.ndarray  # (3,) patients at / above the acceptable doses and in all, summed (with a target)
    split_products: np.ndarray  # (3, 3) their pairwise products, summed
    records: Records | None = None

    def __iadd__(self, other: _Tally) -> _Tally:
        for name in self.__dataclass_fields__:
            if name == "records":
                self.records = None if self.records is None else self.records.joined(other.records)
            else:
                getattr(self, name).__iadd__(getattr(other, name))
        return self


GROUP_BLOCKS = 4
"""Blocks simulated together, their arrays side by side: few enough for the processor's cache."""


def _compaction_steps() -> frozenset[int]:
    """Steps after which finished trials leave the arrays: every step at first, then about every
    quarter more steps.  Fixed in advance, so that what a block draws does not depend on the blocks
    simulated beside it."""
    steps, s = set(), 2
    while s < 1 << 16:
        steps.add(s)
        s = max(s + 1, s * 5 // 4)
    return frozenset(steps)


_COMPACT_AFTER = _compaction_steps()

TREE_MAX_NODES = MAX_NODES
"""Designs whose tree of paths would have more nodes run on the step engine."""

TREE_WORKERS_FROM = 1 << 27
"""Trials from which a run on the tree of paths uses worker processes (about a second on one core,
measured: 10^7 trials ran 0.6 times as fast with 2 workers as in one process)."""

LOOKUP_ENTRIES = 1 << 22
"""Most entries of a run's look-up table of cohort outcomes by (row, uniform bin)."""

_PACK = 16
"""Per-trial counts packed in one integer: DLTs in the low bits, patients above."""


@dataclass(frozen=True, eq=False)
class _Plan:
    """What every block of a run reads: the design's table re-indexed by (state, cohort outcome), and
    a look-up table of the cohort outcome by (row, bin of the uniform).

    A trial's row is its state with one trial kind, else (kind, dose, cohort size).  The uniform's
    range is cut into ``2**bits`` bins; where no threshold of a row's distribution
    (:meth:`CohortOutcomes.thresholds`) falls inside a bin, the bin's entry is the outcome, else -1
    and the outcome is found by comparing the uniform with the thresholds.  Outcomes are indexed
    ``state * J + j`` over every state, the final ones (from ``n_live`` on: the design's decision)
    included: their outcomes stay in the state and count nothing, so finished trials may stay in
    the arrays for a few steps.  A trial's events per dose are packed in integers (``event_words``:
    ``event_bits`` bits per dose) so that a step adds them with one look-up per word."""

    table: DecisionTable
    outcomes: CohortOutcomes
    codes: np.ndarray  # (J,) the design's outcome code of each cohort outcome
    limit: int  # n_live * J: the outcomes of the live states
    bits: int
    lookup: np.ndarray  # (rows << bits,) outcome index (one kind) or j (several kinds), -1: compare
    thresholds: np.ndarray  # (J - 1, rows) cumulative thresholds of each row
    next_state: np.ndarray  # (n_states * J,) next state of an outcome
    next_key: np.ndarray  # (n_states * J,) the same shifted left by ``bits`` (one kind)
    packed: np.ndarray  # (n_states * J,) DLTs + (patients << _PACK) the outcome adds
    event_bits: int
    event_words: tuple[np.ndarray, ...]  # (n_states * J,) events of the outcome, shifted to its dose
    dose: np.ndarray  # (n_states,) dose of the state's cohort (0 for final states)
    split: np.ndarray | None  # (2, n_states) patients at / above the acceptable doses, per state
    pair: np.ndarray  # (n_states,) the state's (dose, cohort size) pair
    n_pairs: int
    n_kinds: int
    q_rows: np.ndarray | None  # common random numbers: (m, n_kinds * n_doses) category bounds
    levels: int  # possible total sample sizes (0 to the most patients a trial can have)

    @classmethod
    def of(cls, table: DecisionTable, model: ToxicityModel, region: np.ndarray | None, common: bool) -> _Plan:
        outcomes = CohortOutcomes.of(len(model.events), "g2" in table.outcomes, table.max_size)
        n_out, n_live = outcomes.counts.shape[0], table.n_live
        n_final = table.n_doses + 1
        n_states = n_live + n_final
        codes = table.code(dlt=outcomes.dlt, **({"g2": outcomes.g2} if "g2" in table.outcomes else {}))
        probabilities = model.probability_table
        n_kinds = probabilities.shape[0]
        sizes, size_index = np.unique(table.size, return_inverse=True)
        final = np.zeros(n_final, dtype=np.intp)
        dose = np.concatenate([table.dose, final]).astype(np.intp)
        pair = np.concatenate([table.dose * len(sizes) + size_index.ravel(), final]).astype(np.intp)
        split = None
        if region is not None:
            at_dose = np.take(region, table.dose)
            split = np.stack([np.where(at_dose == r, table.size, 0) for r in (1, 2)]).astype(np.int16)
            split = np.concatenate([split, np.zeros((2, n_final), dtype=np.int16)], axis=1)
        live = np.arange(n_live * n_out) // n_out
        zeros = np.zeros(n_final * n_out, dtype=np.int64)
        next_state = np.concatenate(
            [table.next[:, codes].ravel(), np.repeat(np.arange(n_live, n_states), n_out)]
        )
        tiled = lambda a: np.tile(a.astype(np.int64), n_live)  # noqa: E731
        size = np.take(table.size.astype(np.int64), live)
        packed = np.concatenate([tiled(outcomes.dlt) + (size << _PACK), zeros])
        event_bits = max(1, int(table.max_patients).bit_length())
        per_word = 63 // event_bits
        event_words = []
        if model.events:
            events, at = tiled(outcomes.events), np.take(table.dose, live)
            for w in range(-(-table.n_doses // per_word)):
                shift = event_bits * (at - w * per_word)
                inside = (shift >= 0) & (shift < event_bits * per_word)
                word = np.where(inside, events << np.where(inside, shift, 0), 0)
                event_words.append(np.concatenate([word, zeros]))
        thresholds = outcomes.thresholds(probabilities, sizes).reshape(n_out - 1, -1)  # by (kind, pair)
        if n_kinds == 1:
            thresholds = np.ascontiguousarray(thresholds[:, pair])  # by state (final ones: unused)
        bits = int(np.clip(np.floor(np.log2(LOOKUP_ENTRIES / thresholds.shape[1])), 4, 10))
        lookup = _lookup(thresholds, bits)
        if n_kinds == 1:
            # Outcome indices (state * J + j) directly; a final state's outcome is its first.
            first = (np.arange(n_states) * n_out)[:, None]
            lookup[n_live:] = 0
            lookup = np.where(lookup < 0, -1, lookup + first).astype(np.intp)
        else:
            lookup = lookup.astype(np.int16)
        q_rows = None
        if common:
            q_rows = np.moveaxis(probabilities[:, list(outcomes.bounds)], 1, 0).reshape(
                len(outcomes.bounds), -1
            )
        return cls(
            table=table,
            outcomes=outcomes,
            codes=codes,
            limit=n_live * n_out,
            bits=bits,
            lookup=lookup.ravel(),
            thresholds=thresholds,
            next_state=next_state.astype(np.intp),
            next_key=next_state.astype(np.intp) << bits,
            packed=packed,
            event_bits=event_bits,
            event_words=tuple(event_words),
            dose=dose,
            split=split,
            pair=pair,
            n_pairs=table.n_doses * len(sizes),
            n_kinds=n_kinds,
            q_rows=q_rows,
            levels=table.max_patients + 1,
        )

    def events_per_dose(self, words: list[np.ndarray]) -> np.ndarray:
        """``(n_doses, n)`` events per dose of trials from their packed ``words``."""
        per_word = 63 // self.event_bits
        mask = (1 << self.event_bits) - 1
        return np.stack(
            [
                (words[d // per_word] >> (self.event_bits * (d % per_word))) & mask
                for d in range(self.table.n_doses)
            ]
        )


def _lookup(thresholds: np.ndarray, bits: int) -> np.ndarray:
    """``(rows, 2**bits)``: the outcome of every uniform in the bin, or -1 where a threshold falls
    inside the bin.  Bin ``b`` holds [b, b + 1) / 2**bits; a uniform ``u`` has outcome ``j`` when
    exactly ``j`` thresholds are at or below it, so every uniform of bin ``b`` counts the thresholds
    ``t`` with ``t * 2**bits <= b``, unless one lies strictly inside the bin."""
    bins = 1 << bits
    rows = thresholds.shape[1]
    scaled = thresholds * bins  # exact: a power of two
    first = np.minimum(np.ceil(scaled), bins).astype(np.intp)  # the first bin at or above t
    # Along a row the count steps up at each threshold's first bin: runs of 0, 1, ..., J - 1.
    edges = np.concatenate([np.zeros((1, rows), np.intp), first, np.full((1, rows), bins)])
    runs = np.diff(edges, axis=0).T.ravel()
    outcome = np.tile(np.arange(edges.shape[0] - 1, dtype=np.int16), rows)
    lookup = np.repeat(outcome, runs).reshape(rows, bins)
    inside = (scaled != np.floor(scaled)) & (scaled < bins)  # rounding may put a threshold above 1
    cells = np.floor(scaled[inside]).astype(np.intp)
    lookup[np.broadcast_to(np.arange(rows), first.shape)[inside], cells] = -1
    return lookup


def _run_chunk(
    table: DecisionTable,
    model: ToxicityModel,
    region: np.ndarray | None,
    records: bool,
    common: bool,
    blocks: Blocks,
) -> _Tally:
    """Simulate the trials of a run of blocks to the end; ``blocks`` holds (seed, trials) pairs.
    ``region`` (per dose: 0 below, 1 at, 2 above the acceptable doses) asks for the per-trial
    patient split; ``records`` for per-trial records; ``common`` for common random numbers.

    Blocks draw only from their own generators, so they are simulated a few at a time
    (:data:`GROUP_BLOCKS`), which keeps the working arrays in the processor's cache."""
    plan, tree = _prepared(table, model, region, common)
    if tree is not None:
        return _run_tree(plan, tree, len(model.events), records, blocks)
    return _sum(
        _run_blocks(plan, model, records, blocks[i : i + GROUP_BLOCKS])
        for i in range(0, len(blocks), GROUP_BLOCKS)
    )


_last_prepared: list = []
"""The last run's inputs and their plan and tree, reused by its later chunks in this process."""


def _same_model(a: ToxicityModel, b: ToxicityModel) -> bool:
    """Whether two models give a run the same plan: the same object, or two dose-toxicity tables of
    the same probabilities (``simulate`` makes a new one from every list of probabilities)."""
    if a is b:
        return True
    curves = isinstance(a, DoseToxicityTable) and isinstance(b, DoseToxicityTable)
    return curves and np.array_equal(a.probability_table, b.probability_table)


def _prepared(
    table: DecisionTable, model: ToxicityModel, region: np.ndarray | None, common: bool
) -> tuple[_Plan, PathTree | None]:
    """The plan of a run and, with one kind of trial and no common random numbers, the tree of the
    design's paths (None when it has too many nodes)."""
    settings = (common, TREE_MAX_NODES)
    if _last_prepared:
        t, m, r, same, plan, tree = _last_prepared
        same_region = (r is None and region is None) or (
            r is not None and region is not None and np.array_equal(r, region)
        )
        if t is table and _same_model(m, model) and same == settings and same_region:
            return plan, tree
    plan = _Plan.of(table, model, region, common)
    tree = None
    if plan.n_kinds == 1 and not common:
        tree = PathTree.of(table, plan.outcomes, plan.thresholds, plan.next_state, plan.split, TREE_MAX_NODES)
    _last_prepared[:] = [table, model, region, settings, plan, tree]
    return plan, tree


def _run_tree(
    plan: _Plan,
    tree: PathTree,
    n_events: int,
    records: bool,
    blocks: Blocks,
) -> _Tally:
    """Simulate the trials of a run of blocks on the tree of the design's paths
    (:mod:`doseesc.engines.pathtree`)."""
    rec = Records.empty(blocks.n_trials, plan.table.n_doses) if records else None
    ended = tree.run(blocks, rec)
    sums = leaf_sums(tree, ended, n_events, plan.limit, plan.levels)
    n_out = plan.outcomes.counts.shape[0]
    weights = np.zeros((plan.table.n_live, plan.table.next.shape[1]), dtype=np.int64)
    np.add.at(weights, (slice(None), plan.codes), sums.pop("weights").reshape(-1, n_out))
    return _Tally(weights=weights, records=rec, **sums)


def _run_blocks(
    plan: _Plan, model: ToxicityModel, records: bool, blocks: Sequence[tuple[np.random.SeedSequence, int]]
) -> _Tally:
    """Simulate the trials of a few blocks, ``blocks`` holding (seed, trials) pairs, to the end.

    Each step draws one 64-bit number per trial in the block's arrays; its top bits pick the bin of
    the look-up table and its top 53 the uniform (as numpy's ``random()``) where a comparison is
    needed.  Without common random numbers, finished trials stay (in their final state) until the
    next of the fixed compaction steps."""
    table, outcomes = plan.table, plan.outcomes
    n_live, width, levels = table.n_live, table.next.shape[1], plan.levels
    n_doses, n_events, n_out = table.n_doses, len(model.events), outcomes.counts.shape[0]
    cohort = table.max_size
    uniform_size = bool(np.all(table.size == cohort))
    tally = _Tally(
        weights=np.zeros(plan.next_state.shape[0], dtype=np.int64),
        selected=np.zeros(n_doses + 1, dtype=np.int64),
        total_n=np.zeros(levels, dtype=np.int64),
        total_dlt=np.zeros(levels, dtype=np.int64),
        events=np.zeros((n_events, n_doses), dtype=np.int64),
        events_sq=np.zeros((n_events, n_doses), dtype=np.int64),
        total_events_sq=np.zeros(n_events, dtype=np.int64),
        split=np.zeros(3, dtype=np.int64),
        split_products=np.zeros((3, 3), dtype=np.int64),
    )
    streams = TrialStreams([seq for seq, _ in blocks], [c for _, c in blocks])
    total = streams.n_trials
    split_so_far = None if plan.split is None else np.zeros((2, total), dtype=np.int16)
    rec = Records.empty(total, n_doses) if records else None
    common = plan.q_rows is not None
    trial_id = np.arange(total) if records or common else None
    kind = model.draw_trials(streams)
    row_of_kind = kind * plan.n_pairs if plan.n_kinds > 1 else None
    uniforms = streams.patient_uniforms() if common else None
    lazy = not common
    keyed = plan.n_kinds == 1 and not common  # the trial's look-up row is its state: track state << bits
    bits, top = plan.bits, np.uint64(64 - plan.bits)
    state = np.zeros(total, dtype=np.intp)  # the design's state (kept up to date unless lazy)
    counts = np.zeros(total, dtype=np.int64)  # DLTs + (patients << _PACK) so far
    event_words = [np.zeros(total, dtype=np.int64) for _ in plan.event_words]
    key = state << bits if keyed else state  # with ``keyed``: the first entry of the state's row
    step = 0
    while total:
        # np.take and np.compress: several times faster than fancy and boolean indexing here.
        if common:
            # Every running trial has had the same number of patients when cohorts are all alike.
            first = int(counts[0] >> _PACK) if uniform_size else counts >> _PACK
            outcome = state * n_out + _patient_outcomes(plan, uniforms, trial_id, kind, state, first)
        elif keyed:
            raw = streams.raw()
            outcome = np.take(plan.lookup, key + (raw >> top).view(np.int64))
            mixed = np.flatnonzero(outcome < 0)
            if mixed.size:
                at = np.take(key, mixed) >> bits
                outcome[mixed] = _compare(plan, np.take(raw, mixed), at, at, n_out)
        else:
            raw = streams.raw()
            row = row_of_kind + np.take(plan.pair, state)
            outcome = np.take(plan.lookup, (row << bits) + (raw >> top).view(np.int64)) + state * n_out
            mixed = np.flatnonzero(outcome < state * n_out)
            if mixed.size:
                outcome[mixed] = _compare(
                    plan, np.take(raw, mixed), np.take(row, mixed), np.take(state, mixed), n_out
                )
        tally.weights += np.bincount(outcome, minlength=tally.weights.shape[0])
        if keyed and (rec is not None or split_so_far is not None):
            state = key >> bits
        if rec is not None:
            dose = np.take(plan.dose, state)
        for acc, word in zip(event_words, plan.event_words, strict=True):
            acc += np.take(word, outcome)
        if split_so_far is not None:
            split_so_far += np.take(plan.split, state, axis=1)
        step_counts = np.take(plan.packed, outcome)
        if rec is not None:
            rec.n[trial_id, dose] += step_counts >> _PACK
            rec.y[trial_id, dose] += step_counts & ((1 << _PACK) - 1)
        counts += step_counts
        if keyed:
            key = np.take(plan.next_key, outcome)
            done = key >= n_live << bits
        else:
            state = np.take(plan.next_state, outcome)
            done = state >= n_live
        n_done = int(np.count_nonzero(done))
        step += 1
        if n_done == 0 or (lazy and n_done < total and step not in _COMPACT_AFTER):
            continue
        if keyed:
            state = key >> bits
        final = np.compress(done, state) - n_live  # 0 = no dose selected
        tally.selected += np.bincount(final, minlength=n_doses + 1)
        ended = np.compress(done, counts)
        tally.total_dlt += np.bincount(ended & ((1 << _PACK) - 1), minlength=levels)
        finished_n = ended >> _PACK
        tally.total_n += np.bincount(finished_n, minlength=levels)
        keep = ~done
        if split_so_far is not None:
            x = np.vstack([np.compress(done, split_so_far, axis=1).astype(np.int64), finished_n])
            tally.split += x.sum(axis=1)
            tally.split_products += x @ x.T
            split_so_far = np.compress(keep, split_so_far, axis=1)
        if rec is not None:
            rec.selected[np.compress(done, trial_id)] = final - 1
        if trial_id is not None:
            trial_id = np.compress(keep, trial_id)
        if event_words:
            ev = plan.events_per_dose([np.compress(done, acc) for acc in event_words])
            tally.events[0] += ev.sum(axis=-1)
            tally.events_sq[0] += (ev**2).sum(axis=-1)
            tally.total_events_sq[0] += (ev.sum(axis=0) ** 2).sum()
            event_words = [np.compress(keep, acc) for acc in event_words]
        streams.keep(keep)
        state = np.compress(keep, state)
        key = state << bits if keyed else state
        counts = np.compress(keep, counts)
        if row_of_kind is not None:
            row_of_kind = np.compress(keep, row_of_kind)
        if common:
            kind = np.compress(keep, kind)
        total -= n_done
    # Cohorts per (state, outcome) to cohorts per (state, the design's outcome code).
    weights = np.zeros((n_live, width), dtype=np.int64)
    np.add.at(weights, (slice(None), plan.codes), tally.weights[: plan.limit].reshape(n_live, n_out))
    tally.weights = weights
    tally.records = rec
    return tally


def _compare(plan: _Plan, raw: np.ndarray, row: np.ndarray, state: np.ndarray, n_out: int) -> np.ndarray:
    """Outcome indices of trials whose uniform's bin holds a threshold, by comparing the uniform (the
    top 53 bits of ``raw``, as numpy's ``random()``) with the thresholds of their ``row``."""
    u = (raw >> np.uint64(11)) * 2.0**-53
    j = state * n_out
    for t in plan.thresholds:
        j += u >= np.take(t, row)
    return j


def _patient_outcomes(
    plan: _Plan,
    uniforms: PatientUniforms,
    trial_id: np.ndarray,
    kind: np.ndarray,
    state: np.ndarray,
    first: np.ndarray | int,
) -> np.ndarray:
    """Common random numbers: each patient's category from their own uniform (the k-th patient of
    a trial has the same one whatever the design); the cohort's outcome (its index among the
    cohort outcomes) from the counts.  ``first``: each trial's patients so far (one number when
    all have had the same)."""
    cohort = plan.table.max_size
    u = uniforms.take(trial_id, first, cohort)
    at = kind * plan.table.n_doses + np.take(plan.dose, state)
    category = np.zeros(u.shape, dtype=np.intp)
    for bound in plan.q_rows:
        category += u >= np.take(bound, at)
    m = len(plan.q_rows)
    category[np.arange(cohort)[:, None] >= np.take(plan.table.size, state)] = m  # no patient there
    counts = [np.count_nonzero(category == k, axis=0) for k in range(m)]
    return plan.outcomes.lookup[tuple(counts)]


def simulate(
    design: Design,
    model: ToxicityModel | Sequence[float] | np.ndarray,
    n_trials: int,
    seed: int | None = None,
    *,
    chunk_trials: int = DEFAULT_CHUNK_TRIALS,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
    target: Target | float | None = None,
    records: bool = False,
    common_random_numbers: bool = False,
) -> OperatingCharacteristics:
    """Estimate the operating characteristics of ``design`` from ``n_trials`` simulated trials.

    ``model`` is a toxicity model, or a list of DLT probabilities per dose (every patient alike).
    ``seed`` (an integer, or None for fresh entropy, recorded in the result) fixes the answer bit for
    bit; ``chunk_trials`` bounds the trials held in memory at once (rounded up to whole blocks of
    :data:`BLOCK_TRIALS`) and ``jobs`` is the number of worker processes: neither changes the result
    (a run on the tree of paths of fewer than :data:`TREE_WORKERS_FROM` trials stays in this process).
    ``progress``, if given, is called with the number of trials finished after each chunk.
    ``target`` adds the metrics of :mod:`doseesc.metrics` with their standard errors; ``records``
    keeps one record per trial (``result.records``, a DataFrame; up to
    :data:`~doseesc.engines.records.MAX_RECORDS` trials).

    ``common_random_numbers``: the k-th patient of trial t (k counted in order of treatment) gets the
    same uniform whatever the design, and the trial the same kind (e.g. posterior draw) drawn by
    the model, so designs compared with one seed on one model meet the same simulated patients and
    the differences between their results have much smaller standard errors.  Seed, chunking and
    jobs mean what they mean without it (the results differ from those without it).  It draws one
    uniform per patient instead of one per cohort, so it is slower, and with cohorts of varying size
    holds up to (patients per trial) x ``chunk_trials`` x 8 bytes of uniforms (see
    :class:`~doseesc.streams.PatientUniforms`).
    """
    target = Target.of(target, design)
    if records:
        check_records(n_trials)
    if not hasattr(model, "probability_table"):
        model = DoseToxicityTable(np.asarray(model, dtype=float))
    if model.n_doses != design.n_doses:
        raise ValueError(f"p_tox has {model.n_doses} doses but the design has {design.n_doses}")
    if "g2" in design.outcomes and not getattr(model, "grade2", False):
        raise ValueError(
            f"the {design.name} design counts grade-2 toxicities: the model must give their probability"
        )
    try:
        table = compile_design(design, getattr(design, "mc_max_states", MAX_STATES))
    except TooManyStates as exc:
        # Too many states to tabulate in advance: tabulate those the trials reach.
        if records or common_random_numbers:
            raise ValueError(
                f"{design.name}: records and common random numbers need the design's full table, which has "
                "too many states; use fewer doses or a smaller max_n"
            ) from None
        from doseesc.engines.reached import simulate_reached

        return simulate_reached(
            design,
            model,
            n_trials,
            seed,
            chunk_trials=chunk_trials,
            jobs=jobs,
            progress=progress,
            target=target,
            partial=exc.partial,
        )
    region = None if target is None else target.regions(model.mean_probabilities())
    if (
        jobs > 1
        and n_trials < TREE_WORKERS_FROM
        and _prepared(table, model, region, common_random_numbers)[1] is not None
    ):
        jobs = 1  # the trials take less time here than starting worker processes would
    root, chunks = split_blocks(n_trials, seed, chunk_trials, jobs, BLOCK_TRIALS)
    tally = _sum(
        reported(
            map_chunks(
                _run_chunk,
                (table, model, region, records, common_random_numbers),
                [(c,) for c in chunks],
                jobs,
            ),
            chunks,
            progress,
        )
    )

    events = {
        name: (tally.events[e], tally.events_sq[e], float(tally.total_events_sq[e]))
        for e, name in enumerate(model.events)
    }
    split = None
    if target is not None:
        split = PatientSplit(tally.split.astype(float), tally.split_products.astype(float))
    return tally_result(tally, table, design, model, n_trials, root, "mc", events, target, split)


def tally_result(
    tally: Any,
    table: DecisionTable,
    design: Design,
    model: ToxicityModel,
    n_trials: int,
    root: np.random.SeedSequence,
    engine: str,
    events: dict[str, tuple[np.ndarray, np.ndarray, float]] | None = None,
    target: Target | None = None,
    split: PatientSplit | None = None,
) -> OperatingCharacteristics:
    """Operating characteristics from a run's summed integer tallies (``weights``, ``selected``,
    ``total_n`` and the histogram ``total_dlt``), as the Monte Carlo and course engines keep them;
    ``target`` and ``split`` as in :meth:`OperatingCharacteristics.from_sums`."""
    m = np.arange(tally.total_dlt.shape[0])
    result = OperatingCharacteristics.from_sums(
        design=design,
        table=table,
        weights=tally.weights,
        selected=tally.selected,
        total_n=tally.total_n,
        total_dlt=float(tally.total_dlt @ m),
        total_dlt_sq=float(tally.total_dlt @ m**2),
        total_dlt_counts=tally.total_dlt,
        events=events,
        n_trials=n_trials,
        engine=engine,
        p_tox=model.mean_probabilities(),
        seed=recorded_seed(root),
        target=target,
        split=split,
    )
    records = getattr(tally, "records", None)
    return result if records is None else replace(result, records=records.to_frame())


def _sum(tallies: Iterable[_Tally]) -> _Tally:
    it = iter(tallies)
    total = next(it)
    for t in it:
        total += t
    return total
