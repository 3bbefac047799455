"""Monte Carlo with several courses per patient and intrapatient escalation (accelerated titration).

Time runs in *periods* of one course: in each period the design's next cohort receives its first
course while every earlier patient still on study receives the next one (the assumption of Simon et
al.'s simulations: a new cohort enters once the previous one has completed its first course).  The
design decides from the new cohort's first-course outcome and, for designs whose trigger counts any
course (design 4), from what earlier patients' later courses showed in the same period.  Once the
design has stopped, patients on study complete their courses (so that worst grades and courses per
patient are counted in full), and no one new is enrolled.

Between courses a patient's dose changes by the documented rule of :class:`CourseOptions`
(Simon et al. 1997, as described in the Biometric Research Branch's chapter on accelerated titration
designs): with intrapatient escalation, worst grade 0-1 goes up one step (at most to the top level),
grade 2 stays; after a DLT the patient goes off study (``on_dlt="stop"``, the usual case) or is
reduced one step (``on_dlt="reduce"``, not below the lowest level).  A step is the design's
accelerated step (two 40% levels for designs 3 and 4) while the trial is in its accelerated phase,
one level after.  Without intrapatient escalation the dose stays, and ``on_dlt`` still applies.  A
patient leaves after ``courses`` courses.

Randomness is drawn block-wise as in :mod:`doseesc.engines.montecarlo`, so results for a seed are
bit-identical whatever the chunk size or number of worker processes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from doseesc.designs.base import DecisionTable, Design, compile_design, outcome_ranges
from doseesc.engines.montecarlo import BLOCK_TRIALS, DEFAULT_CHUNK_TRIALS, tally_result
from doseesc.engines.parallel import map_chunks, reported, split_blocks
from doseesc.metrics import PatientSplit, Target
from doseesc.results import OperatingCharacteristics, json_ready
from doseesc.stats import ratio_se
from doseesc.streams import TrialStreams
from doseesc.tables import Tabular

GRADES = ("0-1", "2", "3", "4")


@dataclass(frozen=True)
class CourseOptions:
    """How patients are treated over courses (see the module docstring)."""

    courses: int = 1
    intrapatient: bool = False
    on_dlt: Literal["reduce", "stop"] = "stop"
    low_level: int = 0
    """Patients whose first dose index is below this are counted as treated at a low dose (e.g. the
    first level at or above a given fraction of the true MTD)."""

    def __post_init__(self) -> None:
        if not 1 <= self.courses <= 20:
            raise ValueError(f"courses must be between 1 and 20, got {self.courses}")
        if self.on_dlt not in ("reduce", "stop"):
            raise ValueError(f"on_dlt must be 'reduce' or 'stop', got {self.on_dlt!r}")
        if self.low_level < 0:
            raise ValueError(f"low_level must be >= 0, got {self.low_level}")


# Per-trial counters kept while a trial runs and summed (with squares) when it ends.
_COUNTERS = (
    "patients",
    "courses",
    "accelerated",
    "low_dose",
    "worst_0_1",
    "worst_2",
    "worst_3",
    "worst_4",
    "at_mtd",
    "above_mtd",
)
_SPLIT = [_COUNTERS.index(name) for name in ("at_mtd", "above_mtd", "patients")]


@dataclass
class _Tally:
    weights: np.ndarray
    selected: np.ndarray
    total_n: np.ndarray
    total_dlt: np.ndarray
    switch: np.ndarray  # (n_doses,) trials whose accelerated phase ended at each dose
    sums: np.ndarray  # (n_counters,) per-trial counters summed
    products: np.ndarray  # (n_counters, n_counters) their products summed (for SEs of ratios)

    def __iadd__(self, other: _Tally) -> _Tally:
        for name in self.__dataclass_fields__:
            getattr(self, name).__iadd__(getattr(other, name))
        return self


@dataclass(frozen=True, eq=False)
class CourseResult(Tabular):
    """Operating characteristics (first-course design decisions) and per-patient course outcomes.

    ``worst_grade`` is the fraction of patients whose worst grade over their courses was 0-1, 2, 3
    or 4 (pooled over trials: sum of counts / sum of patients) with delta-method SEs.
    """

    oc: OperatingCharacteristics
    options: CourseOptions
    mean_patients: float
    se_mean_patients: float
    mean_courses_per_patient: float
    se_mean_courses_per_patient: float
    mean_accelerated: float
    se_mean_accelerated: float
    mean_low_dose: float
    se_mean_low_dose: float
    worst_grade: np.ndarray
    se_worst_grade: np.ndarray
    p_switch: np.ndarray
    """P(the accelerated phase ended at dose index d)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        # An undefined standard error (one trial) is None in JSON, as in every result.
        return json_ready(
            self.oc.to_dict()
            | course_figures(self)
            | {
                "mean_accelerated_patients": self.mean_accelerated,
                "se_mean_accelerated_patients": self.se_mean_accelerated,
                "p_switch": self.p_switch.tolist(),
            }
        )


def course_figures(r: Any) -> dict[str, Any]:
    """The figures every result over several courses reports (a :class:`CourseResult`, or the events
    engine's :class:`~doseesc.engines.events_courses.CourseFigures`), as JSON-ready data."""
    o = r.options
    return {
        "courses": o.courses,
        "intrapatient": o.intrapatient,
        "on_dlt": o.on_dlt,
        "mean_patients": r.mean_patients,
        "se_mean_patients": r.se_mean_patients,
        "mean_courses_per_patient": r.mean_courses_per_patient,
        "se_mean_courses_per_patient": r.se_mean_courses_per_patient,
        "low_level": o.low_level,
        "mean_low_dose_patients": r.mean_low_dose,
        "se_mean_low_dose_patients": r.se_mean_low_dose,
        "worst_grade": dict(zip(GRADES, r.worst_grade.tolist(), strict=True)),
        "se_worst_grade": dict(zip(GRADES, r.se_worst_grade.tolist(), strict=True)),
    }


def _run_chunk(
    table: DecisionTable,
    accelerated: np.ndarray,
    stride_of: np.ndarray,
    region: np.ndarray,
    model: Any,
    options: CourseOptions,
    blocks: Sequence[tuple[np.random.SeedSequence, int]],
) -> _Tally:
    n_live, width, levels, n_doses = table.n_live, table.next.shape[1], table.max_patients + 1, table.n_doses
    ring, slots = options.courses, table.max_cohort
    reads_late = "late_dlt" in table.outcomes
    dose_values = model.dose_values()
    top = n_doses - 1
    n_c = len(_COUNTERS)
    tally = _Tally(
        weights=np.zeros(n_live * width, dtype=np.int64),
        selected=np.zeros(n_doses + 1, dtype=np.int64),
        total_n=np.zeros(levels, dtype=np.int64),
        total_dlt=np.zeros(levels, dtype=np.int64),
        switch=np.zeros(n_doses, dtype=np.int64),
        sums=np.zeros(n_c, dtype=np.int64),
        products=np.zeros((n_c, n_c), dtype=np.int64),
    )

    streams = TrialStreams([seq for seq, _ in blocks], [c for _, c in blocks])
    a = streams.n_trials
    state = np.zeros(a, dtype=np.int64)
    n_total = np.zeros(a, dtype=np.int64)
    dlt_total = np.zeros(a, dtype=np.int64)
    counters = np.zeros((n_c, a), dtype=np.int64)
    # Ring buffer of the last `ring` cohorts: level -1 marks an empty slot or a patient off study.
    level = np.full((ring, slots, a), -1, dtype=np.int64)
    cumulative = np.zeros((ring, slots, a))
    effect = np.zeros((ring, slots, a))
    given = np.zeros((ring, slots, a), dtype=np.int64)
    worst = np.zeros((ring, slots, a), dtype=np.int64)
    g2_seen = np.zeros((ring, slots, a), dtype=bool)
    period = 0
    while a:
        running = state < n_live
        live_state = np.where(running, state, 0)
        # The slot's previous occupants have had all their courses and left.
        slot = period % ring
        size = np.where(running, table.size[live_state], 0)
        new = np.arange(slots)[:, None] < size
        level[slot] = np.where(new, table.dose[live_state], -1)
        cumulative[slot], given[slot], worst[slot], g2_seen[slot] = 0.0, 0, 0, False
        effect[slot] = model.draw_patients(streams, slots)
        counters[_COUNTERS.index("patients")] += size
        counters[_COUNTERS.index("accelerated")] += np.where(running & accelerated[live_state], size, 0)
        at_dose = region[table.dose[live_state]]
        counters[_COUNTERS.index("at_mtd")] += np.where(at_dose == 1, size, 0)
        counters[_COUNTERS.index("above_mtd")] += np.where(at_dose == 2, size, 0)
        low = new & (level[slot] < options.low_level)
        counters[_COUNTERS.index("low_dose")] += low.sum(axis=0)

        on = level >= 0
        p = model.grade_probabilities(np.maximum(level, 0), cumulative, effect)
        u = streams.random(ring * slots).reshape(ring, slots, a)
        grade = np.where(on, 1 + (u < p[0]).astype(np.int64) + (u < p[1]) + (u < p[2]), 0)

        first = grade[slot]
        dlt = np.count_nonzero(first >= 3, axis=0)
        code = {"dlt": dlt, "g2": np.count_nonzero(first == 2, axis=0)}
        if reads_late:
            later = np.ones(ring, dtype=bool)
            later[slot] = False
            fresh_g2 = (grade[later] == 2) & ~g2_seen[later]
            code["late_dlt"] = np.any(grade[later] >= 3, axis=(0, 1)).astype(np.int64)
            code["late_g2"] = np.minimum(fresh_g2.sum(axis=(0, 1)), outcome_ranges(slots)["late_g2"] - 1)
        g2_seen |= grade == 2
        outcome = live_state * width + table.code(**{k: v for k, v in code.items() if k in table.outcomes})
        tally.weights += np.bincount(outcome[running], minlength=n_live * width)
        after = np.where(running, table.next.ravel()[outcome], state)
        switched = running & accelerated[live_state] & ~accelerated[np.where(after < n_live, after, 0)]
        switched |= running & accelerated[live_state] & (after >= n_live)
        tally.switch += np.bincount(table.dose[live_state][switched], minlength=n_doses)
        n_total += size
        dlt_total += np.where(running, dlt, 0)
        state = after

        worst = np.maximum(worst, grade)
        cumulative = cumulative + np.where(on, dose_values[np.maximum(level, 0)], 0.0)
        given = given + on
        stride = np.where(state < n_live, stride_of[np.where(state < n_live, state, 0)], 1)
        level, leave = next_course(level, grade, given, stride, options, top)
        _retire(leave, worst, given, counters)
        period += 1

        finished = (state >= n_live) & ~np.any(level >= 0, axis=(0, 1))
        if not finished.any():
            continue
        tally.selected += np.bincount(state[finished] - n_live, minlength=n_doses + 1)
        tally.total_n += np.bincount(n_total[finished], minlength=levels)
        tally.total_dlt += np.bincount(dlt_total[finished], minlength=levels)
        done_counters = counters[:, finished]
        tally.sums += done_counters.sum(axis=1)
        tally.products += done_counters @ done_counters.T
        keep = ~finished
        streams.keep(keep)
        state, n_total, dlt_total = state[keep], n_total[keep], dlt_total[keep]
        counters = counters[:, keep]
        level, cumulative, effect = level[..., keep], cumulative[..., keep], effect[..., keep]
        given, worst, g2_seen = given[..., keep], worst[..., keep], g2_seen[..., keep]
        a = int(keep.sum())
    tally.weights = tally.weights.reshape(n_live, width)
    return tally


def next_course(
    level: np.ndarray,
    grade: np.ndarray,
    given: np.ndarray,
    stride: np.ndarray | int,
    options: CourseOptions,
    top: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Each patient's dose level for the next course (-1: off study) after a course of worst grade
    ``grade`` (1 stands for 0-1; 0 for no course) at ``level``, ``given`` courses so far; also the
    mask of patients leaving now.  ``stride`` is the ladder step of an intrapatient escalation."""
    on = level >= 0
    change = np.zeros_like(level)
    if options.intrapatient:
        change = np.where(grade <= 1, stride, 0)
    toxic = grade >= 3
    if options.on_dlt == "reduce":
        change = np.where(toxic, -stride, change)
    leave = on & ((given >= options.courses) | (toxic & (options.on_dlt == "stop")))
    return np.where(on & ~leave, np.clip(level + change, 0, top), -1), leave


def _retire(leaving: np.ndarray, worst: np.ndarray, given: np.ndarray, counters: np.ndarray) -> None:
    """Count the courses and worst grade of the patients ``leaving`` (a mask over the roster)."""
    roster = tuple(range(leaving.ndim - 1))
    counters[_COUNTERS.index("courses")] += np.where(leaving, given, 0).sum(axis=roster)
    for g, name in enumerate(("worst_0_1", "worst_2", "worst_3", "worst_4"), start=1):
        counters[_COUNTERS.index(name)] += (leaving & (worst == g)).sum(axis=roster)


def simulate_courses(
    design: Design,
    model: Any,
    n_trials: int,
    seed: int | None = None,
    options: CourseOptions | None = None,
    *,
    chunk_trials: int = DEFAULT_CHUNK_TRIALS // 16,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
    target: Target | float | None = None,
) -> CourseResult:
    """Simulate ``n_trials`` trials of ``design`` with patients treated over several courses.

    ``model`` gives per-course grade probabilities (:class:`~doseesc.models.graded.GradedTable` or
    :class:`~doseesc.models.graded.LatentToxicity`).  Seeds, chunks and jobs behave as in
    :func:`doseesc.engines.montecarlo.simulate`, and so does ``target``.

    A design with an initial phase (accelerated titration) declares it: ``initial_phase(states)``
    marks its states, whose patients are counted as accelerated-phase patients, and
    ``course_stride(states)`` gives the ladder levels of an intrapatient escalation in each state.
    """
    options = options or CourseOptions()
    target = Target.of(target, design)
    if model.n_doses != design.n_doses:
        raise ValueError(f"the toxicity model has {model.n_doses} doses but the design has {design.n_doses}")
    table = compile_design(design)
    initial = getattr(design, "initial_phase", None)
    accelerated = initial(table.states) if initial else np.zeros(table.n_live, dtype=bool)
    stride_of = getattr(design, "course_stride", lambda states: np.ones(table.n_live, dtype=np.int64))
    region = np.zeros(design.n_doses, dtype=np.int64)
    if target is not None:
        region = target.regions(model.mean_probabilities())
    root, chunks = split_blocks(n_trials, seed, chunk_trials, jobs, BLOCK_TRIALS)
    fixed = (table, accelerated, stride_of(table.states), region, model, options)
    tallies = reported(map_chunks(_run_chunk, fixed, [(c,) for c in chunks], jobs), chunks, progress)
    tally = next(tallies)
    for t in tallies:
        tally += t

    products = tally.products[np.ix_(_SPLIT, _SPLIT)]
    split = PatientSplit(tally.sums[_SPLIT].astype(float), products.astype(float))
    oc = tally_result(tally, table, design, model, n_trials, root, "courses", target=target, split=split)
    idx = {name: i for i, name in enumerate(_COUNTERS)}
    mean, se = _mean_se(tally, n_trials)
    ratio = {name: _ratio(tally, n_trials, idx[name], idx["patients"]) for name in _COUNTERS}
    worst = [ratio[name] for name in ("worst_0_1", "worst_2", "worst_3", "worst_4")]
    return CourseResult(
        oc=oc,
        options=options,
        mean_patients=mean[idx["patients"]],
        se_mean_patients=se[idx["patients"]],
        mean_courses_per_patient=ratio["courses"][0],
        se_mean_courses_per_patient=ratio["courses"][1],
        mean_accelerated=mean[idx["accelerated"]],
        se_mean_accelerated=se[idx["accelerated"]],
        mean_low_dose=mean[idx["low_dose"]],
        se_mean_low_dose=se[idx["low_dose"]],
        worst_grade=np.array([w[0] for w in worst]),
        se_worst_grade=np.array([w[1] for w in worst]),
        p_switch=tally.switch / n_trials,
    )


def _mean_se(tally: _Tally, n: int) -> tuple[np.ndarray, np.ndarray]:
    # Not stats.sd_from_sums: the same variance in another rounding, kept so that results for a
    # seed stay bit-identical to earlier versions.
    mean = tally.sums / n
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (np.diag(tally.products) - n * mean**2) / (n - 1)
    return mean, np.sqrt(np.maximum(var, 0) / n)


def _ratio(tally: _Tally, n: int, i: int, j: int) -> tuple[float, float]:
    """Ratio of sums X/Y over trials and its delta-method standard error."""
    p = tally.products
    return ratio_se(
        float(tally.sums[i]), float(tally.sums[j]), float(p[i, i]), float(p[i, j]), float(p[j, j]), n
    )


__all__ = ["BLOCK_TRIALS", "CourseOptions", "CourseResult", "course_figures", "simulate_courses"]
