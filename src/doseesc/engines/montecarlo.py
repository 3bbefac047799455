"""Vectorized Monte Carlo estimation of operating characteristics.

All trials of a chunk advance together: each step draws one uniform for every running trial's next
cohort and turns it into the cohort's outcome (DLTs, the events tallied, grade 2 where the design
reads it) by inverting its exact distribution (:mod:`doseesc.engines.cohorts`: multinomial over the
patients' categories, tabulated per trial kind, dose and cohort size), then moves each trial through
the design's tabulated rule (:func:`doseesc.designs.compile_design`) with a single look-up.  What is
kept are integer tallies (cohort outcomes per state, selections, totals), so results from chunks add
up exactly.

Reproducibility: trials are grouped in blocks of :data:`BLOCK_TRIALS`, the unit of randomness; block
``b`` draws only from the generator of child ``b`` of ``SeedSequence(seed)``, in a fixed order.  A
chunk (the unit of memory and of work for a worker process) is a run of whole blocks, so the result
for a seed is bit-identical whatever the chunk size or the number of worker processes.

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

from doseesc.designs.base import DecisionTable, Design, compile_design
from doseesc.engines.cohorts import CohortOutcomes
from doseesc.engines.parallel import map_chunks, recorded_seed, reported, split_blocks
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


def _run_chunk(
    table: DecisionTable,
    model: ToxicityModel,
    region: np.ndarray | None,
    records: bool,
    common: bool,
    blocks: Sequence[tuple[np.random.SeedSequence, int]],
) -> _Tally:
    """Simulate the trials of a run of blocks to the end; ``blocks`` holds (seed, trials) pairs.
    ``region`` (per dose: 0 below, 1 at, 2 above the acceptable doses) asks for the per-trial
    patient split; ``records`` for per-trial records; ``common`` for common random numbers."""
    n_live, width, levels = table.n_live, table.next.shape[1], table.max_patients + 1
    n_doses, n_events = table.n_doses, len(model.events)
    cohort = table.max_size
    uniform_size = bool(np.all(table.size == cohort))
    outcomes = CohortOutcomes.of(n_events, "g2" in table.outcomes, cohort)
    n_out = outcomes.counts.shape[0]
    codes = table.code(dlt=outcomes.dlt, **({"g2": outcomes.g2} if "g2" in table.outcomes else {}))
    # Per (state, outcome): the next state, the outcome's DLTs and events, flat over state * n_out.
    next_flat = np.ascontiguousarray(table.next[:, codes]).ravel()
    dlt_flat = np.tile(outcomes.dlt.astype(np.int16), n_live)
    events_flat = np.tile(outcomes.events.astype(np.int16), n_live)
    size_state = table.size.astype(np.int16)
    tally = _Tally(
        weights=np.zeros(n_live * n_out, dtype=np.int64),
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
    # Patients per state at / above the acceptable doses, and their per-trial running counts.
    split_size = None
    if region is not None:
        at_dose = np.take(region, table.dose)
        split_size = np.stack([np.where(at_dose == r, table.size, 0) for r in (1, 2)]).astype(np.int16)
        split_so_far = np.zeros((2, total), dtype=np.int16)
    rec = Records.empty(total, n_doses) if records else None
    trial_id = np.arange(total) if records or common else None
    probabilities = model.probability_table
    n_kinds = probabilities.shape[0]
    kind = model.draw_trials(streams)
    # Each state's row among the (dose, cohort size) pairs; with one kind, its thresholds directly.
    sizes, size_index = np.unique(table.size, return_inverse=True)
    pair_state = table.dose * len(sizes) + size_index.ravel()
    n_pairs = n_doses * len(sizes)
    if common:
        uniforms = streams.patient_uniforms()
        q_rows = np.moveaxis(probabilities[:, list(outcomes.bounds)], 1, 0).reshape(len(outcomes.bounds), -1)
    else:
        thresholds = outcomes.thresholds(probabilities, sizes).reshape(n_out - 1, n_kinds * n_pairs)
        if n_kinds == 1:
            thresholds = np.ascontiguousarray(thresholds[:, pair_state])
    state = np.zeros(total, dtype=np.intp)
    dlt_so_far = np.zeros(total, dtype=np.int16)
    n_so_far = None if uniform_size else np.zeros(total, dtype=np.int16)
    events_so_far = np.zeros((n_events, n_doses, total), dtype=np.int16) if n_events else None
    u_buffer = np.empty((1, total))
    step = 0
    while total:
        # np.take and np.compress: several times faster than fancy and boolean indexing here.
        if common:
            j = _patient_outcomes(outcomes, q_rows, uniforms, trial_id, kind, table, state, n_so_far, step)
        else:
            u = streams.random(1, out=u_buffer)[0]
            row = state if n_kinds == 1 else kind * n_pairs + np.take(pair_state, state)
            j = (u >= np.take(thresholds[0], row)).view(np.int8).astype(np.intp)
            for t in thresholds[1:]:
                j += u >= np.take(t, row)
        outcome = state * n_out + j
        tally.weights += np.bincount(outcome, minlength=n_live * n_out)
        dlt = np.take(dlt_flat, outcome)
        if events_so_far is not None or rec is not None:
            dose = np.take(table.dose, state)
        if events_so_far is not None:
            events_so_far[0, dose, np.arange(total)] += np.take(events_flat, outcome)
        if split_size is not None:
            split_so_far += np.take(split_size, state, axis=1)
        if n_so_far is not None:
            n_so_far += np.take(size_state, state)
        if rec is not None:
            rec.n[trial_id, dose] += np.take(size_state, state) if not uniform_size else cohort
            rec.y[trial_id, dose] += dlt
        state = np.take(next_flat, outcome)
        dlt_so_far += dlt
        step += 1

        done = state >= n_live
        n_done = int(np.count_nonzero(done))
        if n_done == 0:
            continue
        tally.selected += np.bincount(np.compress(done, state) - n_live, minlength=n_doses + 1)
        tally.total_dlt += np.bincount(np.compress(done, dlt_so_far), minlength=levels)
        if n_so_far is None:
            tally.total_n[step * cohort] += n_done
            finished_n = np.full(n_done, step * cohort, dtype=np.int64)
        else:
            finished_n = np.compress(done, n_so_far).astype(np.int64)
            tally.total_n += np.bincount(finished_n, minlength=levels)
        if split_size is not None:
            x = np.vstack([np.compress(done, split_so_far, axis=1).astype(np.int64), finished_n])
            tally.split += x.sum(axis=1)
            tally.split_products += x @ x.T
            split_so_far = np.compress(~done, split_so_far, axis=1)
        if rec is not None:
            rec.selected[np.compress(done, trial_id)] = np.compress(done, state) - n_live - 1
        if trial_id is not None:
            trial_id = np.compress(~done, trial_id)
        keep = ~done
        if events_so_far is not None:
            finished = np.compress(done, events_so_far, axis=-1).astype(np.int64)
            tally.events += finished.sum(axis=-1)
            tally.events_sq += (finished**2).sum(axis=-1)
            tally.total_events_sq += (finished.sum(axis=1) ** 2).sum(axis=-1)
            events_so_far = np.compress(keep, events_so_far, axis=-1)
        streams.keep(keep)
        state = np.compress(keep, state)
        dlt_so_far = np.compress(keep, dlt_so_far)
        if n_kinds > 1 or common:
            kind = np.compress(keep, kind)
        if n_so_far is not None:
            n_so_far = np.compress(keep, n_so_far)
        total -= n_done
    # Cohorts per (state, outcome) to cohorts per (state, the design's outcome code).
    weights = np.zeros((n_live, width), dtype=np.int64)
    np.add.at(weights, (slice(None), codes), tally.weights.reshape(n_live, n_out))
    tally.weights = weights
    tally.records = rec
    return tally


def _patient_outcomes(
    outcomes: CohortOutcomes,
    q_rows: np.ndarray,
    uniforms: PatientUniforms,
    trial_id: np.ndarray,
    kind: np.ndarray,
    table: DecisionTable,
    state: np.ndarray,
    n_so_far: np.ndarray | None,
    step: int,
) -> np.ndarray:
    """Common random numbers: each patient's category from their own uniform (the k-th patient of
    a trial has the same one whatever the design); the cohort's outcome index from the counts."""
    cohort = table.max_size
    u = uniforms.take(trial_id, step * cohort if n_so_far is None else n_so_far, cohort)
    at = kind * table.n_doses + np.take(table.dose, state)
    category = np.zeros(u.shape, dtype=np.intp)
    for bound in q_rows:
        category += u >= np.take(bound, at)
    category[np.arange(cohort)[:, None] >= np.take(table.size, state)] = len(q_rows)  # no patient there
    m = len(q_rows)
    counts = [np.count_nonzero(category == k, axis=0) for k in range(m)]
    return outcomes.lookup[tuple(counts)]


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
    :data:`BLOCK_TRIALS`) and ``jobs`` is the number of worker processes: neither changes the result.
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
    table = compile_design(design)
    region = None if target is None else target.regions(model.mean_probabilities())
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
