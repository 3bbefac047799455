"""From settings to objects: designs, toxicity models, conduct and engine runs.

The command line (``doseesc simulate``) and scenario files (:mod:`doseesc.scenario`) describe the
same things in two spellings, options and TOML keys.  Both are turned into the frozen ``*Spec``
dataclasses below, and this module alone turns those into a design, a toxicity model, a
:class:`~doseesc.conduct.Conduct` and an engine run.

Errors are :class:`SpecError`: a message in which every setting is written ``<key>``, its path in a
scenario file (``<toxicity.p_grade2>``), so that each caller names it its own way (the command line
names the option, ``--p-grade2``).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from doseesc import registry
from doseesc.conduct import CANONIC_ACLF, CANONIC_AD, MAX_INFUSIONS, Conduct, DiseaseCourse
from doseesc.formatting import percent
from doseesc.metrics import Target
from doseesc.models.graded import GradedTable, LatentToxicity
from doseesc.models.regimens import LevelRegimens
from doseesc.models.table import DoseToxicityTable
from doseesc.registry import REGISTRY

ENGINES = tuple(REGISTRY.engines)
SIMULATION_ENGINES = tuple(name for name, e in REGISTRY.engines.items() if e.simulates)
"""Engines that simulate trials (they take a number of trials and a seed)."""
MODELS = tuple(REGISTRY.models)
ELIGIBILITY = ("halpc", "nct05727722")
CONDUCT_PRESETS = ("halpc", "nct05727722")

CONDUCT_FIELDS = {
    "accrual": "accrual_process",
    "screening_days": "screening_days",
    "screening": "screening",
    "screen_failure": "screen_failure",
    "max_wait_days": "max_wait_days",
    "stagger_days": "stagger_days",
    "window_days": "window_days",
    "dlt_onset": "dlt_onset",
    "onset_days": "onset_days",
    "cohort_decision": "cohort_decision",
    "halt_probability": "halt_probability",
    "halt_days": "halt_days",
    "max_days": "max_days",
}
"""Scenario key in ``[conduct]`` -> :class:`~doseesc.conduct.Conduct` field (besides the accrual
rate; the number of infusions and their interval come from ``[regimen]``)."""

_KEY = re.compile(r"<([A-Za-z_][\w.\[\]]*)>")


class SpecError(ValueError):
    """An invalid setting.  ``template`` writes every setting as ``<key>`` (its path in a scenario
    file); :meth:`render` names them, by default as those paths."""

    def __init__(self, template: str) -> None:
        self.template = template
        keys = _KEY.findall(template)
        self.key = keys[0] if keys else ""
        super().__init__(self.render())

    def render(self, name: Callable[[str], str] = str) -> str:
        return _KEY.sub(lambda m: name(m.group(1)), self.template)


# ---------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True)
class DesignSpec:
    """A registered design's ``name`` (:mod:`doseesc.registry`), its parameters as (key, value)
    pairs (converted and checked against the registry's ranges by :func:`make_design`), and the
    target with its optional band, for the metrics against a target."""

    name: str
    params: tuple[tuple[str, Any], ...] = ()
    target: float | None = None
    target_band: tuple[float, float] | None = None

    def to_dict(self, design: Any = None) -> dict[str, Any]:
        """The name, every parameter of the design and the target, if any: the values ``design``
        (the built design) runs with, else those given or the registry's defaults."""
        given = dict(self.params)
        try:
            params = registry.design(self.name).params
        except registry.ParamError:
            params = ()

        def value(p: registry.Param) -> Any:
            if design is not None and hasattr(design, p.arg or p.name):
                return getattr(design, p.arg or p.name)
            return given.get(p.name, p.default if p.fixed is None else p.fixed)

        out = {"name": self.name} | {p.name: value(p) for p in params}
        if self.target is not None:
            out |= {
                "target": self.target,
                "target_band": None if self.target_band is None else list(self.target_band),
            }
        return out

    def target_spec(self) -> Target | None:
        """The :class:`~doseesc.metrics.Target`, or None (errors name ``<design.target_band>``)."""
        if self.target is None:
            if self.target_band is not None:
                raise SpecError("<design.target_band> needs <design.target>")
            return None
        try:
            return Target(self.target, self.target_band)
        except ValueError as exc:
            raise SpecError(f"<design.target_band> {exc}") from None


@dataclass(frozen=True)
class DoseSpec:
    """The dose levels: ``values`` in ``unit`` (a possibly scaled unit such as ``1e6cells/kg``), or a
    ladder of ``levels`` values ``start * (1 + step)**j`` (Simon et al.'s 40% steps), or neither
    (levels known only by number, from the toxicity table)."""

    values: tuple[float, ...] | None = None
    unit: str | None = None
    levels: int | None = None
    start: float = 1.0
    step: float = 0.4

    @property
    def n(self) -> int | None:
        if self.values is not None:
            return len(self.values)
        return self.levels

    def array(self) -> np.ndarray | None:
        """Dose values in the display unit (None when the levels have no values)."""
        if self.values is not None:
            return np.array(self.values, dtype=float)
        if self.levels is not None:
            return self.start * (1 + self.step) ** np.arange(self.levels)
        return None

    def dose_levels(self, *, distinct: bool = False):
        """:class:`~doseesc.models.units.DoseLevels` (needs values and a unit); ``distinct``: of the
        distinct values only (levels that repeat a dose with another regimen)."""
        from doseesc.models.units import DoseLevels

        if self.unit is None:
            raise SpecError("<doses.unit> is required by this toxicity model (e.g. 1e6cells/kg)")
        values = self.array()
        return DoseLevels.parse(list(np.unique(values) if distinct else values), self.unit)


@dataclass(frozen=True)
class TableSpec:
    """DLT (grade >= 3) probability per dose level; optional grade-2 and grade-4 probabilities."""

    p_dlt: tuple[float, ...]
    p_grade2: tuple[float, ...] | None = None
    p_grade4: tuple[float, ...] | None = None
    model = "table"


@dataclass(frozen=True)
class LatentSpec:
    """Simon et al.'s latent model (:class:`~doseesc.models.graded.LatentToxicity`)."""

    alpha: float
    sigma_patient: float
    sigma_course: float
    thresholds: tuple[float, float, float]
    model = "latent"


@dataclass(frozen=True)
class CovariateSpec:
    """A covariate term of the logistic model (:class:`~doseesc.models.logistic.CovariateTerm`)."""

    covariate: str
    coefficient: float
    centre: float = 0.0
    log: bool = False


@dataclass(frozen=True)
class LogisticSpec:
    """Logistic DLT risk per administration in log dose: ``p_reference`` at ``reference_dose`` (in
    ``reference_unit``, by default the doses' unit) for a patient at every covariate's centre,
    ``slope`` log-odds per e-fold dose."""

    p_reference: float
    reference_dose: float
    slope: float
    reference_unit: str | None = None
    carryover_half_life_days: float | None = None
    covariates: tuple[CovariateSpec, ...] = ()
    model = "logistic"


@dataclass(frozen=True)
class HalpcSpec:
    """The HALPC bleeding model calibrated to the sentinel findings
    (:func:`~doseesc.models.halpc.halpc_bleeding_model`); ``sentinel_dose``: the reading of the
    sentinel's ~5e6 cells/kg, ``per_infusion`` or ``per_patient``; ``other_dlt``: per-infusion
    probability of a non-bleeding DLT at 1e6 cells/kg (None: bleeding is the only DLT)."""

    posterior: bool = False
    prior: str = "weakly-informative"
    cohorts: str = "fig2"
    sentinel_dose: str = "per_infusion"
    other_dlt: float | None = None
    model = "halpc-bleeding"


ToxicitySpec = TableSpec | LatentSpec | LogisticSpec | HalpcSpec


@dataclass(frozen=True)
class RegimenSpec:
    """Administrations per patient (one number, or one per dose level) and days between them."""

    infusions: int | tuple[int, ...] = 1
    interval_days: float = 7.0

    def per_level(self, n: int) -> tuple[int, ...]:
        return self.infusions if isinstance(self.infusions, tuple) else (self.infusions,) * n

    @property
    def varies(self) -> bool:
        return isinstance(self.infusions, tuple) and len(set(self.infusions)) > 1


@dataclass(frozen=True)
class PopulationSpec:
    """Virtual patients (:class:`~doseesc.population.Population`): eligibility criteria by name, with
    optional changes to its fields (``age_min``, ``age_max``, ``weight_min_kg``, ``meld_na_max``)."""

    eligibility: str = "halpc"
    changes: tuple[tuple[str, float], ...] = ()

    def build(self):
        from doseesc.population import Eligibility, Population

        base = Eligibility() if self.eligibility == "halpc" else Eligibility.nct05727722()
        return Population(replace(base, **dict(self.changes)))


@dataclass(frozen=True)
class DiseaseSpec:
    """Competing risks in the DLT window (:class:`~doseesc.conduct.DiseaseCourse`)."""

    aclf_fraction: float
    transplant_share: float = 0.0
    aclf_risk: tuple[float, float] = CANONIC_ACLF
    ad_risk: tuple[float, float] = CANONIC_AD


@dataclass(frozen=True)
class ConductSpec:
    """Calendar-time conduct for the events engine: accrual per site (patients per month), an
    optional preset, other :class:`~doseesc.conduct.Conduct` fields by scenario key
    (:data:`CONDUCT_FIELDS`) and the disease course (``"preset"``: the preset's, None: none)."""

    accrual_per_month: tuple[float, ...]
    preset: str | None = None
    settings: tuple[tuple[str, Any], ...] = ()
    disease: DiseaseSpec | str | None = None


@dataclass(frozen=True)
class CourseSpec:
    """Courses per patient for the course engine; ``intrapatient`` None: on for atd2-atd4."""

    courses: int = 1
    intrapatient: bool | None = None
    on_dlt: str = "stop"
    low_level: int = 0


# ---------------------------------------------------------------------------------------------
# Objects


def make_design(spec: DesignSpec, n_doses: int, doses: np.ndarray | None = None):
    """The design named by ``spec`` over ``n_doses`` levels (with dose values ``doses``, for the
    designs that use them), through the registry; an invalid parameter is a :class:`SpecError`
    naming ``<design.KEY>`` and what it allows."""
    try:
        entry = registry.design(spec.name)
    except registry.ParamError as exc:
        raise SpecError(f"<design.name> {exc}") from None
    try:
        return entry.build(n_doses, dict(spec.params), spec.target, doses)
    except registry.ParamError as exc:
        where = "doses.values" if exc.key == "doses" else f"design.{exc.key}"
        raise SpecError(f"<{where}> {exc}") from None
    except ValueError as exc:
        # The design's own checks begin with its field's name ("max_n must be ..."): say where.
        name, _, rest = str(exc).partition(" ")
        param = next((p for p in entry.params if (p.arg or p.name) == name), None)
        if param is not None:
            raise SpecError(f"<design.{param.name}> {rest}") from None
        if name == "target" and entry.takes_target:
            raise SpecError(f"<design.target> {rest}") from None
        if name == "n_doses":  # the doses (or the toxicity table) set it: say what the design needs
            raise SpecError(f"<design.name> {spec.name}: the number of dose levels {rest}") from None
        raise SpecError(f"<design.name> {spec.name}: {exc}") from None


def _same_length(name: str, values: tuple[float, ...] | None, n: int) -> None:
    if values is not None and len(values) != n:
        raise SpecError(f"<{name}> has {len(values)} values but <toxicity.p_dlt> has {n}: give one per dose")


def make_model(
    tox: ToxicitySpec,
    doses: DoseSpec = DoseSpec(),
    regimen: RegimenSpec = RegimenSpec(),
    population: PopulationSpec | None = None,
    *,
    engine: str = "exact",
):
    """The toxicity model ``tox`` over ``doses`` for ``engine`` (a table becomes a
    :class:`~doseesc.models.graded.GradedTable` for the course engine, or with grade-4 values)."""
    most = max(regimen.per_level(1 if doses.n is None else doses.n))
    if most > MAX_INFUSIONS:
        # The mechanism models compute each administration's effect: work and memory grow with them.
        raise SpecError(f"<regimen.infusions> = {most}: allowed range is [1, {MAX_INFUSIONS}]")
    if isinstance(tox, TableSpec):
        k = len(tox.p_dlt)
        _same_length("toxicity.p_grade2", tox.p_grade2, k)
        _same_length("toxicity.p_grade4", tox.p_grade4, k)
        if doses.n is not None and doses.n != k:
            raise SpecError(f"<toxicity.p_dlt> has {k} values but <doses.values> has {doses.n}: one per dose")
        p = np.array(tox.p_dlt, dtype=float)
        if tox.p_grade4 is not None and np.any(np.array(tox.p_grade4) > p):
            raise SpecError(
                "<toxicity.p_grade4> must not exceed <toxicity.p_dlt> at any dose "
                "(grade 4 is part of the DLTs)"
            )
        if engine == "courses" or tox.p_grade4 is not None:
            g2 = np.zeros(k) if tox.p_grade2 is None else np.array(tox.p_grade2, dtype=float)
            g4 = np.zeros(k) if tox.p_grade4 is None else np.array(tox.p_grade4, dtype=float)
            return GradedTable(p_grade2=g2, p_grade3=p - g4, p_grade4=g4)
        return DoseToxicityTable(p, None if tox.p_grade2 is None else np.array(tox.p_grade2, dtype=float))
    if isinstance(tox, LatentSpec):
        values = doses.array()
        if values is None:
            raise SpecError("<doses.values> (or <doses.levels>) is required by the latent model")
        return LatentToxicity(
            doses=values,
            alpha=tox.alpha,
            sigma_patient=tox.sigma_patient,
            sigma_course=tox.sigma_course,
            thresholds=tox.thresholds,
        )
    if engine == "courses":
        raise SpecError(
            "<run.engines> courses needs per-course grades: "
            f"<toxicity.model> table or latent, not {tox.model}"
        )
    return _mechanism_model(tox, doses, regimen, population)


def _mechanism_model(tox: LogisticSpec | HalpcSpec, doses: DoseSpec, regimen: RegimenSpec, population):
    """Logistic and HALPC models, over one regimen or one regimen per dose level."""
    from doseesc.models.mechanisms import Regimen

    if not regimen.varies:
        levels = doses.dose_levels()
        infusions = regimen.per_level(levels.n)[0]
        return _one_regimen(tox, levels, Regimen(infusions, regimen.interval_days), population)
    distinct = doses.dose_levels(distinct=True)
    per_level = regimen.per_level(doses.n)
    regimens = sorted(set(per_level))
    models = tuple(
        _one_regimen(tox, distinct, Regimen(r, regimen.interval_days), population) for r in regimens
    )
    return LevelRegimens(
        models,
        tuple(regimens.index(r) for r in per_level),
        tuple(int(i) for i in np.unique(doses.array(), return_inverse=True)[1]),
    )


def _one_regimen(tox: LogisticSpec | HalpcSpec, levels, regimen, population_spec: PopulationSpec | None):
    from doseesc.models.mechanisms import MechanismModel

    population = (population_spec or PopulationSpec()).build()
    if isinstance(tox, HalpcSpec):
        from doseesc.models.halpc import halpc_bleeding_model, other_dlt

        if levels.unit not in ("cells/kg", "cells"):
            raise SpecError(
                f"<doses.unit> {levels.unit} cannot be used by the halpc-bleeding model, which reads "
                "cells/kg; allowed: cells/kg, or cells (divided by each patient's body weight)"
            )
        return halpc_bleeding_model(
            levels,
            regimen,
            posterior=tox.posterior,
            prior=tox.prior,
            cohorts=tox.cohorts,
            sentinel_dose=tox.sentinel_dose,
            population=population,
            other=None if tox.other_dlt is None else other_dlt(tox.other_dlt),
        )
    from scipy import special

    from doseesc.models.logistic import CovariateTerm, LogisticRisk
    from doseesc.models.units import Dose, canonical_unit, parse_unit

    scale, unit = (levels.scale, levels.unit)
    if tox.reference_unit is not None:
        scale, unit = parse_unit(tox.reference_unit, "toxicity.reference_unit")
    if canonical_unit(unit) != levels.unit and not levels.needs_weight(unit):
        raise SpecError(
            f"<toxicity.reference_unit> {unit} does not match <doses.unit> {levels.unit}; allowed: the "
            "same unit, or cells with cells/kg (converted through each patient's body weight)"
        )
    risk = LogisticRisk(
        "DLT",
        float(special.logit(tox.p_reference)),
        tox.slope,
        Dose(tox.reference_dose * scale, unit),
        tuple(CovariateTerm(c.covariate, c.coefficient, c.centre, c.log) for c in tox.covariates),
        carryover_half_life_days=tox.carryover_half_life_days,
    )
    return MechanismModel(levels, (risk,), regimen, population)


def make_conduct(spec: ConductSpec, regimen: RegimenSpec = RegimenSpec(), design: Any = None) -> Conduct:
    """The calendar-time conduct; infusions and their interval come from ``regimen``.

    A design whose protocol fixes its conduct names a preset (its ``conduct_preset``, e.g. the
    nct05727722 design's 60-day DLT window): it applies unless ``spec`` names a preset of its own,
    and the settings ``spec`` gives override it, as they override any preset."""
    infusions = regimen.infusions if regimen.varies else regimen.per_level(1)[0]
    settings = {CONDUCT_FIELDS[k]: v for k, v in spec.settings}
    settings |= {"infusions": infusions, "interval_days": regimen.interval_days}
    if isinstance(spec.disease, DiseaseSpec):
        d = spec.disease
        settings["disease"] = DiseaseCourse(d.aclf_fraction, d.aclf_risk, d.ad_risk, d.transplant_share)
    elif spec.disease is None:
        settings["disease"] = None
    # else "preset": the preset's disease course (none without a preset)
    preset = spec.preset or getattr(design, "conduct_preset", None)
    if preset == "halpc":
        return Conduct.halpc(spec.accrual_per_month, **settings)
    if preset == "nct05727722":
        return Conduct.nct05727722(spec.accrual_per_month, **settings)
    return Conduct(spec.accrual_per_month, **settings)


def course_options(spec: CourseSpec, design):
    """The course engine's options; intrapatient escalation defaults to what ``design`` declares
    (its ``intrapatient`` attribute: on for accelerated titration designs 2-4)."""
    from doseesc.engines.courses import CourseOptions

    default = bool(getattr(design, "intrapatient", False))
    intrapatient = default if spec.intrapatient is None else spec.intrapatient
    n_doses = getattr(design, "n_doses", None)
    if n_doses is not None and not 0 <= spec.low_level < n_doses:
        # Patients first treated "below dose low_level + 1": beyond the ladder that is every patient.
        raise SpecError(
            f"<courses.low_level> = {spec.low_level}: allowed range is [0, {n_doses - 1}] "
            f"(the ladder has {n_doses} doses; 0 counts no patients)"
        )
    return CourseOptions(spec.courses, intrapatient, spec.on_dlt, spec.low_level)


def check(design, model, engine: str, tox: ToxicitySpec) -> None:
    """What a design, a model and an engine ask of each other."""
    if "g2" in design.outcomes and isinstance(tox, TableSpec) and tox.p_grade2 is None:
        raise SpecError(
            f"<toxicity.p_grade2> is required: the {design.name} design's trigger counts grade-2 toxicities"
        )
    if "g2" in design.outcomes and not getattr(model, "grade2", False):
        raise SpecError(
            f"<design.name> {design.name} counts grade-2 toxicities, which the {tox.model} model does "
            "not give; allowed models: table (with p_grade2) or latent"
        )
    if getattr(design, "calendar_time_only", False):
        if engine != "events":
            raise SpecError(
                f"<run.engines> {engine}: the {design.name} weighs pending patients by their follow-up, so "
                "it runs in calendar time only; allowed: events"
            )
        if not getattr(model, "independent_patients", True):
            raise SpecError(
                f"<toxicity.posterior> the {design.name}'s calendar-time engine draws independent patients; "
                "a posterior draw per trial is not supported"
            )
    if engine == "exact" and not getattr(model, "independent_patients", True):
        raise SpecError(
            "<run.engines> exact cannot be used with <toxicity.posterior>: the patients of a trial share "
            "parameters; use mc"
        )


def exact_inputs(model) -> tuple[np.ndarray, np.ndarray | None]:
    """The exact engine's inputs: population-averaged DLT and grade-2 probabilities per level."""
    grade2 = getattr(model, "mean_grade2_probabilities", None)
    g2 = grade2() if grade2 else getattr(model, "p_grade2", None)
    return model.mean_probabilities(), g2


BLOCK_BYTES = 80
"""Memory per block of trials before the first trial runs: its size in its run of blocks (the
block's ``SeedSequence`` child is made when the block runs); measured with tracemalloc, numpy 2:
about 20 bytes per block of the Monte Carlo engine, up to 75 with the events engine's runs of 4
blocks."""
TRIAL_BYTES = {"events": 600, "records": 150}
"""Peak memory per simulated trial that an engine keeps (the events engine's per-trial durations and
counts; per-trial records of mc), measured with tracemalloc over 10^4-10^5 trials."""


def memory_needed(engine: str, trials: int, *, records: bool = False) -> int:
    """Bytes ``engine`` allocates for ``trials`` trials beyond what any run needs (an estimate)."""
    # Only the engine that runs is imported (the events engine brings in simpy).
    if engine == "events":
        from doseesc.engines.events import BLOCK_TRIALS as block
    else:
        from doseesc.engines.montecarlo import BLOCK_TRIALS as block
    per_trial = TRIAL_BYTES["events"] if engine == "events" else 0
    if records:
        per_trial = max(per_trial, TRIAL_BYTES["records"])
    return -(-trials // block) * BLOCK_BYTES + trials * per_trial


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``; else physical memory;
    None if unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(engine: str, trials: int, *, records: bool = False) -> None:
    """:class:`SpecError` naming the trials, with the estimate, when ``engine`` would need more
    memory than the machine has available (refused before anything is allocated)."""
    need = memory_needed(engine, trials, records=records)
    have = available_memory()
    if have is None or need <= have:
        return
    most = max(1, int(trials * have / need))
    raise SpecError(
        f"<run.trials> = {trials:,}: the {engine} engine would need about {_gigabytes(need)} of memory and "
        f"{_gigabytes(have)} is available; allowed: at most about {most:,} trials on this machine"
    )


def _gigabytes(n: int) -> str:
    return f"{n / 1e9:,.1f} GB"


def run_engine(
    engine: str,
    design,
    model,
    *,
    trials: int = 100_000,
    seed: int | None = None,
    jobs: int = 1,
    conduct: Conduct | None = None,
    courses=None,
    progress: Callable[[int], None] | None = None,
    target: Target | None = None,
    records: bool = False,
    common_random_numbers: bool = False,
):
    """Run one engine: an :class:`~doseesc.results.OperatingCharacteristics` (exact, mc), a
    :class:`~doseesc.engines.courses.CourseResult` or an :class:`~doseesc.engines.events.EventsResult`.
    ``progress`` receives the trials done so far (simulation engines); ``target`` adds the metrics
    against it; ``records`` keeps per-trial records (mc and events); ``common_random_numbers`` gives
    every design the same simulated patients (mc; ignored by the other engines)."""
    if engine in SIMULATION_ENGINES:
        check_memory(engine, trials, records=records)
    if records and engine not in ("mc", "events"):
        raise SpecError(f"<run.records> per-trial records come from the mc and events engines, not {engine}")
    if engine == "exact":
        from doseesc.engines import exact

        return exact(design, *exact_inputs(model), target=target)
    if engine == "mc":
        from doseesc.engines import simulate

        return simulate(
            design,
            model,
            trials,
            seed,
            jobs=jobs,
            progress=progress,
            target=target,
            records=records,
            common_random_numbers=common_random_numbers,
        )
    if engine == "events":
        if conduct is None:
            raise SpecError(
                "<conduct> is required by the events engine (at least <conduct.accrual_per_month>)"
            )
        if getattr(design, "calendar_time_only", False):
            from doseesc.engines.tite import simulate_tite

            if records:
                raise SpecError(f"<run.records> the {design.name}'s engine keeps no per-trial records")
            return simulate_tite(design, model.mean_probabilities(), conduct, trials, seed, target=target)
        from doseesc.engines import run_events

        return run_events(
            design,
            model,
            conduct,
            trials,
            seed,
            jobs=jobs,
            progress=progress,
            target=target,
            records=records,
            courses=courses,
        )
    if engine == "courses":
        from doseesc.engines import simulate_courses

        return simulate_courses(
            design, model, trials, seed, courses, jobs=jobs, progress=progress, target=target
        )
    raise SpecError(f"<run.engines> {engine!r} is not an engine; allowed: {', '.join(ENGINES)}")


def calibration_band(
    tox: ToxicitySpec, doses: DoseSpec, regimen: RegimenSpec, population: PopulationSpec | None = None
):
    """For the HALPC bleeding model: the posterior median and central credible interval (the
    calibration's level, 90%) of P(severe bleeding over the regimen) per dose level, averaged over
    the population's coagulation score and, for doses in absolute cells, over its body weight (a
    patient of ``w`` kg given ``x`` cells receives ``x / w`` cells/kg), as ``(Band, level)``; else
    None.  ``population``: the scenario's (default HALPC eligibility).

    The band is the calibration's uncertainty whether or not the scenario draws its parameters
    from the posterior (without, it runs at the posterior medians)."""
    if not isinstance(tox, HalpcSpec) or doses.unit is None:
        return None
    levels = doses.dose_levels(distinct=True)
    values = doses.array() * levels.scale
    from doseesc.models.band import Band
    from doseesc.models.halpc import CREDIBLE_LEVEL, bleeding_mechanism, calibrate_halpc
    from doseesc.models.mechanisms import Regimen

    pop = (population or PopulationSpec()).build()
    cal = calibrate_halpc(tox.prior, tox.cohorts, tox.sentinel_dose)
    mechanism = bleeding_mechanism(*cal.point)
    nodes, weights = pop.score_quadrature(32)
    if levels.unit == "cells":
        kg, kg_weights = pop.weight_quadrature()
    else:
        kg, kg_weights = np.ones(1), np.ones(1)
    # Axes: body weight, score, posterior draw (the two averages factorise: weight is independent
    # of the score's components in the population's copula).
    params = cal.posterior.draws[:, None, None, :]
    covariates = {"coagulation_score": nodes[None, :, None]}
    risks = []
    for value, infusions in zip(values, regimen.per_level(len(values)), strict=True):
        reg = Regimen(infusions, regimen.interval_days)
        per_kg = (value / kg)[:, None, None]
        per = [
            mechanism.risk(per_kg * load, covariates, params)
            for load in reg.loads(mechanism.carryover_half_life_days)
        ]
        risks.append(np.einsum("w,s,wsm->m", kg_weights, weights, reg.risk(per)))
    tail = (1 - CREDIBLE_LEVEL) / 2
    median, lower, upper = cal.posterior.quantiles(np.array(risks), [0.5, tail, 1 - tail])
    label = (
        f"calibration (prior {cal.prior.name}, sentinel dose {cal.sentinel_dose}): P(severe bleeding "
        f"over the regimen), posterior median and {percent(CREDIBLE_LEVEL, 'g')} credible interval"
    )
    return Band(label, median, lower, upper), CREDIBLE_LEVEL


def spec_dict(spec: Any) -> Any:
    """A spec as plain JSON-ready data (dataclasses to dicts, tuples to lists, inf to None)."""
    if isinstance(spec, DesignSpec):
        return spec_dict(spec.to_dict())
    if hasattr(spec, "__dataclass_fields__"):
        out = {f.name: spec_dict(getattr(spec, f.name)) for f in fields(spec)}
        for name in ("settings", "changes"):  # (key, value) pairs
            if name in out:
                out[name] = {k: v for k, v in out[name]}
        if hasattr(type(spec), "model"):
            out = {"model": type(spec).model} | out
        return out
    if isinstance(spec, tuple | list):
        return [spec_dict(v) for v in spec]
    if isinstance(spec, Mapping):
        return {k: spec_dict(v) for k, v in spec.items()}
    if isinstance(spec, float) and not math.isfinite(spec):
        return None
    return spec


__all__ = [
    "CONDUCT_FIELDS",
    "ENGINES",
    "MODELS",
    "ConductSpec",
    "CourseSpec",
    "CovariateSpec",
    "DesignSpec",
    "DiseaseSpec",
    "DoseSpec",
    "HalpcSpec",
    "LatentSpec",
    "LogisticSpec",
    "PopulationSpec",
    "RegimenSpec",
    "SpecError",
    "TableSpec",
    "check",
    "course_options",
    "make_conduct",
    "make_design",
    "make_model",
    "run_engine",
]
