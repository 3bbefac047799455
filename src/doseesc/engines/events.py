"""Discrete-event simulation of trial conduct in calendar time, with simpy: the runner.

Each trial is a simpy environment (:mod:`doseesc.engines.events_trial`: its events, what each
patient does and when the design decides); its figures are gathered here into an
:class:`~doseesc.engines.events_result.EventsResult` (:mod:`doseesc.engines.events_result`, with the
event log's records).  The conduct options and their sources are in
:class:`doseesc.conduct.Conduct`.

Arrivals are no events (:mod:`doseesc.engines.accrual`): the trial meets the patients who passed
screening, in that order, only when it has a slot for them, and with Poisson accrual it draws only
the patients it doses, counting the others (lost, still waiting, failed or in screening at the end)
in bulk by the memorylessness of Poisson arrivals; so a trial costs the same at any accrual rate.  A
trial's patient probabilities are read once, at its start, from the model's table for its kind (a
posterior draw, :class:`~doseesc.models.base.ToxicityModel`; the kinds of a block's trials are drawn
in one batch).

Each patient receives the regimen of the level (``Conduct.infusions``, one count or one per level)
once, one course; a DLT after an infusion follows the infusion the model's per-infusion risks make
likely (:mod:`doseesc.engines.events_infusions`).  With ``courses=`` patients receive several
courses (:mod:`doseesc.engines.events_courses`), and designs that read later courses (``late_dlt``,
``late_g2``: accelerated titration design 4) run.  A grade-2 toxicity is counted at the end of the
patient's window (the worst grade over the window).  A trial still undecided when the clock reaches
``Conduct.max_days`` stops there: it ran out of time (:class:`EventsResult`).

Reproducibility: trials are grouped in blocks of :data:`BLOCK_TRIALS`; block ``b`` draws only from
child ``b`` of ``SeedSequence(seed)`` (its trials one after the other) and from that child's own
first child (the trials' kinds; over several courses its second child gives the patients' own
effects, one after the other).  The first trial of a run keeps its event log and so draws every
arrival (:class:`~doseesc.engines.accrual.ArrivalList`), the others do not.  A worker's task is a run of
whole blocks, so the result is bit-identical whatever the number of worker processes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from doseesc.conduct import Conduct
from doseesc.designs.base import MAX_STATES, DecisionTable, Design, TooManyStates, compile_design
from doseesc.engines.accrual import Uniforms
from doseesc.engines.courses import CourseOptions
from doseesc.engines.events_infusions import first_infusion_cdf, level_regimens
from doseesc.engines.events_result import COUNTS, DurationSummary, EventsResult, LogRecord, Summary
from doseesc.engines.events_setup import Setup
from doseesc.engines.events_trial import Trial
from doseesc.engines.parallel import map_chunks, recorded_seed, split_blocks
from doseesc.engines.records import Records, check_records
from doseesc.metrics import PatientSplit, Target
from doseesc.models.base import ToxicityModel
from doseesc.models.table import DoseToxicityTable
from doseesc.results import OperatingCharacteristics
from doseesc.streams import TrialStreams

BLOCK_TRIALS = 256
"""Trials per block, the unit of randomness (part of what a seed means: do not change lightly)."""
_CHUNK_BLOCKS = 4
"""Blocks per worker task: small enough to balance two or more workers and report progress."""


@dataclass
class _Chunk:
    """What a run of blocks returns: integer tallies and per-trial figures, in trial order."""

    weights: np.ndarray  # (n_live, n_codes) cohorts per (state, outcome code)
    selected: np.ndarray  # (n_doses + 1,) index 0 = none
    total_n: np.ndarray  # (max_patients + 1,) trials per evaluable sample size
    total_dlt: np.ndarray  # (n,) per trial
    n_dose: np.ndarray  # (n, n_doses) patients treated per dose (evaluable slots), per trial
    y_dose: np.ndarray  # (n, n_doses) DLTs per dose, per trial
    selected_each: np.ndarray  # (n,) selected dose per trial (-1: none)
    events: np.ndarray  # (n_events, n, n_doses) per trial
    duration: np.ndarray  # (n,) days
    counts: np.ndarray  # (n, len(COUNTS))
    wait_days: np.ndarray  # (n,)
    out_of_time: np.ndarray  # (n,) bool: the trial reached the horizon undecided
    course_counts: np.ndarray | None  # (n, len(COURSE_COUNTS)) over several courses, else None
    log: list[LogRecord] | None


def _run_blocks(
    table: DecisionTable,
    model: ToxicityModel,
    conduct: Conduct,
    infusion_cdf: np.ndarray | None,
    plan: Any,
    blocks: Sequence[tuple[np.random.SeedSequence, int]],
    log_first: bool,
) -> _Chunk:
    """Simulate the trials of a run of blocks, each block's trials in order from its own generator;
    with a course plan (:class:`~doseesc.engines.events_courses.CoursePlan`), over several courses."""
    if plan is None:
        setup = Setup(table, model, conduct, infusion_cdf)
    else:
        from doseesc.engines.events_courses import CourseSetup, CourseTrial

        setup = CourseSetup(table, model, conduct, infusion_cdf, plan)
    outcomes: list[int] = []
    selected, total_n, total_dlt, n_dose, y_dose, durations, rows, events = [], [], [], [], [], [], [], []
    out_of_time, course_counts = [], []
    log = None
    for seq, count in blocks:
        u = Uniforms(np.random.Generator(np.random.PCG64(seq)))
        # The trials' kinds (e.g. posterior draws) in one batch, from a child of the block's seed;
        # over several courses, the patients' own effects from a second child, one at a time.
        children = seq.spawn(1 if plan is None else 2)
        kinds = model.draw_trials(TrialStreams(children[:1], [count])).tolist()
        patients = None if plan is None else TrialStreams(children[1:], [1])
        for kind in kinds:
            trial_log = [] if log_first and log is None else None
            if plan is None:
                trial = Trial(setup, u, outcomes, kind, trial_log)
            else:
                trial = CourseTrial(setup, u, outcomes, kind, trial_log, patients)
            rows.append(trial.run())
            if plan is not None:
                course_counts.append(trial.counts)
            log = log if trial_log is None else trial_log
            selected.append(trial.selected)
            total_n.append(trial.total_n)
            total_dlt.append(trial.total_dlt)
            n_dose.append(trial.n_dose)
            y_dose.append(trial.y_dose)
            durations.append(trial.end)
            events.append(trial.events)
            out_of_time.append(trial.out_of_time)
    n = len(rows)
    table_rows = np.array(rows, dtype=float).reshape(n, len(COUNTS) + 1)
    return _Chunk(
        weights=np.bincount(outcomes, minlength=table.n_live * setup.width).reshape(
            table.n_live, setup.width
        ),
        selected=np.bincount(np.array(selected) + 1, minlength=table.n_doses + 1),
        total_n=np.bincount(total_n, minlength=table.max_patients + 1),
        total_dlt=np.array(total_dlt, dtype=np.int64),
        n_dose=np.array(n_dose, dtype=np.int64).reshape(n, table.n_doses),
        y_dose=np.array(y_dose, dtype=np.int64).reshape(n, table.n_doses),
        selected_each=np.array(selected, dtype=np.int32),
        events=np.array(events, dtype=np.int64).reshape(n, setup.n_events, table.n_doses).transpose(1, 0, 2),
        duration=np.array(durations),
        counts=table_rows[:, :-1].astype(np.int64),
        wait_days=table_rows[:, -1],
        out_of_time=np.array(out_of_time, dtype=bool),
        course_counts=None if plan is None else np.array(course_counts, dtype=np.int64).reshape(n, -1),
        log=log,
    )


def run_events(
    design: Design,
    model: ToxicityModel | Sequence[float] | np.ndarray,
    conduct: Conduct,
    n_trials: int,
    seed: int | None = None,
    *,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
    target: Target | float | None = None,
    records: bool = False,
    courses: CourseOptions | None = None,
) -> EventsResult:
    """Simulate ``n_trials`` trials of ``design`` conducted as ``conduct``, in calendar time.

    ``model`` is a toxicity model, or a list of DLT probabilities per dose (every patient alike).
    ``seed`` (an integer, or None for fresh entropy, recorded in the result) fixes the answer bit for
    bit whatever ``jobs``, the number of worker processes.  ``progress``, if given, is called with the
    number of trials finished so far after each run of blocks.  ``target`` adds the metrics of
    :mod:`doseesc.metrics`; ``records`` keeps one record per trial, with its duration and whether it
    ran out of time (``result.oc.records``).  ``courses`` gives each patient several courses, one
    DLT window each (:mod:`doseesc.engines.events_courses`; a graded model, as for the course
    engine): accelerated titration with intrapatient escalation in calendar time.
    """
    target = Target.of(target, design)
    if records:
        check_records(n_trials)
    if not hasattr(model, "probability_table"):
        model = DoseToxicityTable(np.asarray(model, dtype=float))
    if model.n_doses != design.n_doses:
        raise ValueError(f"the toxicity model has {model.n_doses} doses but the design has {design.n_doses}")
    if {"late_dlt", "late_g2"} & set(design.outcomes) and courses is None:
        raise ValueError(
            f"the {design.name} design reads later courses; the events engine gives one course per "
            "patient unless given courses= (or use the course engine)"
        )
    if courses is not None and not hasattr(model, "grade_probabilities"):
        raise ValueError(
            "courses: the events engine draws each course's worst grade from a graded model (the "
            f"course engine's: a graded table or the latent toxicity model), not a {type(model).__name__}"
        )
    if "g2" in design.outcomes and not getattr(model, "grade2", False):
        raise ValueError(
            f"the {design.name} design counts grade-2 toxicities: the model must give their probability"
        )
    try:
        table = compile_design(design, getattr(design, "mc_max_states", MAX_STATES))
    except TooManyStates:
        raise ValueError(
            f"{design.name}: too many states for the calendar-time engine, which tabulates the whole rule "
            "first; use larger cohorts (--cohort-size 3) or a smaller max_n"
        ) from None
    root, tasks = split_blocks(n_trials, seed, _CHUNK_BLOCKS * BLOCK_TRIALS, jobs, BLOCK_TRIALS)
    # Only the first run of blocks keeps its first trial's event log.
    varying = [(t, i == 0) for i, t in enumerate(tasks)]
    infusion_cdf = _check_regimens(model, conduct, design.n_doses)
    plan = None
    if courses is not None:
        from doseesc.engines.events_courses import CoursePlan

        stride = getattr(design, "course_stride", lambda states: np.ones(table.n_live, dtype=np.int64))
        plan = CoursePlan(
            courses, tuple(int(x) for x in stride(table.states)), tuple(map(float, model.dose_values()))
        )
    fixed = (table, model, conduct, infusion_cdf, plan)
    chunks = _report(map_chunks(_run_blocks, fixed, varying, jobs), progress)

    weights = sum(c.weights for c in chunks)
    total_dlt = np.concatenate([c.total_dlt for c in chunks]).astype(float)
    n_dose = np.concatenate([c.n_dose for c in chunks]).astype(float)
    events = np.concatenate([c.events for c in chunks], axis=1)
    durations = np.concatenate([c.duration for c in chunks])
    counts = np.concatenate([c.counts for c in chunks])
    wait_days = np.concatenate([c.wait_days for c in chunks])
    oc = OperatingCharacteristics.from_sums(
        design=design,
        table=table,
        weights=weights,
        selected=sum(c.selected for c in chunks),
        total_n=sum(c.total_n for c in chunks),
        total_dlt=float(total_dlt.sum()),
        total_dlt_sq=float(total_dlt @ total_dlt),
        total_dlt_counts=np.bincount(total_dlt.astype(np.int64)),
        events={
            name: (
                events[e].sum(axis=0),
                (events[e] ** 2).sum(axis=0),
                float((events[e].sum(axis=1) ** 2).sum()),
            )
            for e, name in enumerate(model.events)
        },
        n_trials=n_trials,
        engine="events",
        p_tox=model.mean_probabilities(),
        seed=recorded_seed(root),
    )
    # from_sums counts every cohort at the table's size; a cohort decided before all its slots were
    # dosed ("earliest") treated fewer, so the patients per dose come from the per-trial counts.
    sd_n = n_dose.std(axis=0, ddof=1) if n_trials > 1 else np.full(table.n_doses, np.nan)
    oc = replace(oc, mean_n=n_dose.mean(axis=0), sd_n=sd_n)
    if target is not None:
        region = target.regions(oc.p_tox)
        x = np.stack(
            [n_dose[:, region == 1].sum(axis=1), n_dose[:, region == 2].sum(axis=1), n_dose.sum(axis=1)]
        )
        pmf = np.bincount(total_dlt.astype(np.int64)) / n_trials
        oc = oc.with_metrics(target, pmf, PatientSplit(x.sum(axis=1), x @ x.T))
    out_of_time = np.concatenate([c.out_of_time for c in chunks])
    if records:
        rec = Records(
            selected=np.concatenate([c.selected_each for c in chunks]),
            n=n_dose.astype(np.int32),
            y=np.concatenate([c.y_dose for c in chunks]).astype(np.int32),
            duration=durations,
        )
        frame = rec.to_frame()
        frame["out_of_time"] = out_of_time
        oc = replace(oc, records=frame)
    dosed = counts[:, COUNTS.index("dosed")].sum()
    return EventsResult(
        oc=oc,
        conduct=conduct,
        duration=DurationSummary.of(durations),
        counts={name: Summary.of(counts[:, j].astype(float)) for j, name in enumerate(COUNTS)},
        mean_wait_days=float(wait_days.sum() / dosed) if dosed else math.nan,
        log=tuple(chunks[0].log),
        durations=durations,
        out_of_time=out_of_time,
        courses=None if plan is None else _course_figures(courses, chunks),
    )


def _course_figures(options: CourseOptions, chunks: list[_Chunk]) -> Any:
    from doseesc.engines.events_courses import CourseFigures

    return CourseFigures.of(options, np.concatenate([c.course_counts for c in chunks]))


def _check_regimens(model: ToxicityModel, conduct: Conduct, n_doses: int) -> np.ndarray | None:
    """The model's P(first DLT after infusion <= k | DLT) per kind and level (None for a model
    without per-infusion risks), once the conduct's infusions agree with the model's regimens."""
    infusions = conduct.level_infusions(n_doses)
    regimens = level_regimens(model)
    if regimens is None:
        return None
    given = tuple(n for n, _ in regimens)
    intervals = {interval for n, interval in regimens if n > 1}
    if given != infusions or intervals - {conduct.interval_days}:
        shown = given[0] if len(set(given)) == 1 else list(given)
        raise ValueError(
            f"Conduct.infusions = {conduct.infusions!r}, interval_days = {conduct.interval_days:g}: the "
            f"toxicity model's regimen gives {shown} infusions per level, "
            f"{', '.join(f'{i:g}' for i in sorted(intervals)) or 'any number of'} days apart; allowed: the "
            "model's regimen"
        )
    return first_infusion_cdf(model)


def _report(chunks: Iterable[_Chunk], progress: Callable[[int], None] | None) -> list[_Chunk]:
    out = []
    done = 0
    for chunk in chunks:
        out.append(chunk)
        done += chunk.duration.shape[0]
        if progress is not None:
            progress(done)
    return out


__all__ = ["BLOCK_TRIALS", "COUNTS", "DurationSummary", "EventsResult", "LogRecord", "Summary", "run_events"]
