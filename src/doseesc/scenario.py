"""Scenario files: a trial's design, doses, toxicity model, population, conduct and engines in TOML.

:func:`load` parses a file with :mod:`tomllib` and validates it into a frozen :class:`Scenario` made
of the settings of :mod:`doseesc.build`; it also builds the design, the model and the conduct once,
so that a file that loads will run.  Every mistake in the file is reported at once, in file order,
in one :class:`ScenarioError`: one line each naming the file, the key path (``toxicity.p_dlt[2]``)
and what is allowed, with the nearest allowed name for a misspelt one; a TOML syntax error keeps
tomllib's line and column.  A doubtful but usable setting is a :class:`ScenarioWarning`.  The
schema, with an example for every key, is ``docs/scenarios.md``.

Running a scenario lives in :mod:`doseesc.running` and describing one in
:mod:`doseesc.presentation`; their public names are importable from here too.
"""

from __future__ import annotations

import math
import re
import tomllib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from doseesc import registry
from doseesc.build import (
    CONDUCT_FIELDS,
    CONDUCT_PRESETS,
    ELIGIBILITY,
    ENGINES,
    MODELS,
    SIMULATION_ENGINES,
    ConductSpec,
    CourseSpec,
    CovariateSpec,
    DesignSpec,
    DiseaseSpec,
    DoseSpec,
    HalpcSpec,
    LatentSpec,
    LogisticSpec,
    PopulationSpec,
    RegimenSpec,
    SpecError,
    TableSpec,
    ToxicitySpec,
    check,
    course_options,
    make_conduct,
    make_design,
    make_model,
    spec_dict,
)
from doseesc.presentation import summary
from doseesc.reader import BAD, Reader, describe, fmt
from doseesc.running import ScenarioResult, ToxicityCurve, run_scenario, toxicity_curve
from doseesc.scenario_errors import ScenarioError, ScenarioWarning

DEFAULT_TRIALS = {"mc": 100_000, "courses": 20_000, "events": 2_000}
"""Simulated trials per engine when ``run.trials`` does not say."""

SECTIONS = ("scenario", "design", "doses", "toxicity", "regimen", "population", "conduct", "courses", "run")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
MAX_NAME = 100
"""Characters of a scenario name: it names the results folder, and file systems allow 255 bytes
(docs/limits.md)."""
_MODEL_KEYS = {
    "table": ("p_dlt", "p_grade2", "p_grade4"),
    "latent": ("alpha", "sigma_patient", "sigma_course", "thresholds"),
    "logistic": (
        "p_reference",
        "reference_dose",
        "slope",
        "reference_unit",
        "carryover_half_life_days",
        "covariates",
    ),
    "halpc-bleeding": ("posterior", "prior", "cohorts", "other_dlt", "sentinel_dose"),
}
_HALPC_PRIORS = ("weakly-informative", "sceptical")
_HALPC_COHORTS = ("fig2", "least-exposure", "most-exposure")
_HALPC_SENTINEL_DOSES = ("per_infusion", "per_patient")
"""Readings of the sentinel's dose (:data:`doseesc.models.halpc_records.SENTINEL_READINGS`, not
imported here so that validating a file does not import the models)."""
_COVARIATES = (
    "age",
    "weight",
    "inr",
    "fibrinogen",
    "platelets",
    "meld_na",
    "aclf_grade",
    "coagulation_score",
)
_ELIGIBILITY_CHANGES = ("age_min", "age_max", "weight_min_kg", "meld_na_max")
_CONDUCT_CHOICES = {
    "accrual": ("poisson", "regular"),
    "screening": ("uniform", "fixed"),
    "dlt_onset": ("uniform", "after_infusion", "end"),
    "cohort_decision": ("earliest", "filled", "complete"),
}
_ALIASES = {"p_tox": "p_dlt", "halpc": "halpc-bleeding"}
"""Names users type that are no near spelling of the right one: ``p_tox`` is the command line's
``--p-tox`` and the results' column, ``halpc`` the model's name in ``doseesc calibrate``."""


@dataclass(frozen=True)
class RunSpec:
    """Engines to run (in order), simulated trials per simulation engine, and the seed (None: fresh
    entropy, drawn once per run and reported)."""

    engines: tuple[str, ...]
    trials: tuple[tuple[str, int], ...] = tuple(DEFAULT_TRIALS.items())
    seed: int | None = None

    def trials_for(self, engine: str) -> int:
        return dict(self.trials).get(engine, DEFAULT_TRIALS.get(engine, 0))


@dataclass(frozen=True)
class Scenario:
    """A validated scenario file (see ``docs/scenarios.md``)."""

    name: str
    design: DesignSpec
    doses: DoseSpec
    toxicity: ToxicitySpec
    run: RunSpec
    regimen: RegimenSpec = field(default_factory=RegimenSpec)
    population: PopulationSpec | None = None
    conduct: ConductSpec | None = None
    courses: CourseSpec | None = None
    title: str = ""
    description: str = ""
    file: str = "<scenario>"
    text: str = ""
    """The file's text as read (kept with the results)."""

    @property
    def n_doses(self) -> int:
        if isinstance(self.toxicity, TableSpec):
            return len(self.toxicity.p_dlt)
        return int(self.doses.n)

    def with_run(self, *, trials: int | None = None, seed: int | None = None) -> Scenario:
        """The scenario with every simulation engine's trials and/or the seed replaced."""
        run = self.run
        if trials is not None:
            run = replace(run, trials=tuple((e, trials) for e in SIMULATION_ENGINES))
        if seed is not None:
            run = replace(run, seed=seed)
        return replace(self, run=run)

    def build(self, engine: str, models: dict | None = None):
        """(design, model) for ``engine``; ``models`` (a dict) keeps models to reuse across engines
        (they differ only for a table under the course engine), so that a model's population
        averages are computed once."""
        # Several courses in calendar time read per-course grades, as the course engine does.
        courses = self.has_courses(engine)
        kind = "courses" if courses else "single course"
        model = None if models is None else models.get(kind)
        if model is None:
            model = make_model(
                self.toxicity,
                self.doses,
                self.regimen,
                self.population,
                engine="courses" if courses else engine,
            )
            if models is not None:
                models[kind] = model
        design = make_design(self.design, model.n_doses, self.doses.array())
        check(design, model, engine, self.toxicity)
        return design, model

    def build_conduct(self, design=None):
        """The events engine's conduct; ``design`` brings its own conduct preset, if it has one."""
        return None if self.conduct is None else make_conduct(self.conduct, self.regimen, design)

    def course_options(self):
        return course_options(
            self.courses or CourseSpec(), make_design(self.design, self.n_doses, self.doses.array())
        )

    def has_courses(self, engine: str) -> bool:
        """Whether ``engine`` gives patients several courses: the course engine always, the events
        engine when the scenario has a ``[courses]`` section."""
        return engine == "courses" or (engine == "events" and self.courses is not None)

    def engine_courses(self, engine: str):
        """The course options ``engine`` runs with, or None for one course per patient."""
        return self.course_options() if self.has_courses(engine) else None

    def to_dict(self) -> dict[str, Any]:
        """The validated settings as JSON-ready data (the inputs of a run)."""
        out: dict[str, Any] = {"name": self.name, "title": self.title, "description": self.description}
        out["file"] = self.file
        for key in ("doses", "toxicity", "regimen", "population", "conduct", "courses"):
            out[key] = spec_dict(getattr(self, key))
        design = make_design(self.design, self.n_doses, self.doses.array())
        out["design"] = spec_dict(self.design.to_dict(design))
        out["run"] = {
            "engines": list(self.run.engines),
            "trials": {e: self.run.trials_for(e) for e in self.run.engines if e in SIMULATION_ENGINES},
            "seed": self.run.seed,
        }
        return out


def load(path: str | Path) -> Scenario:
    """Read, parse and validate a scenario file (``ScenarioError`` listing every problem; a
    :class:`ScenarioWarning` for each doubtful setting that is accepted)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ScenarioError(str(path), f"cannot read the scenario file: {reason}") from None
    return parse(text, str(path), default_name=path.stem)


def parse(text: str, file: str = "<scenario>", *, default_name: str = "scenario") -> Scenario:
    """Validate TOML ``text`` (named ``file`` in errors) into a :class:`Scenario` and build it once."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(file, f"TOML syntax error: {exc}") from None
    except RecursionError:
        raise ScenarioError(
            file, "TOML nests too deeply; allowed: tables and lists nested a few levels"
        ) from None
    return parse_data(data, file, default_name=default_name, text=text)


def parse_data(
    data: dict, file: str = "<scenario>", *, default_name: str = "scenario", text: str = ""
) -> Scenario:
    """Validate already-parsed TOML ``data`` (named ``file`` in errors; ``text`` kept as the file's
    text) into a :class:`Scenario` and build it once, as :func:`parse` does.

    Every mistake is reported, in file order, in one :class:`ScenarioError`; the warnings of a valid
    file are issued (:class:`ScenarioWarning`) once it has been built."""
    reader = _Reader(file)
    scenario = reader.scenario(data, default_name, text)
    if reader.errors:
        raise ScenarioError(file, reader.in_file_order(data))
    _dry_build(scenario)
    for key, message in reader.warnings:
        warnings.warn(ScenarioWarning(file, key, message), stacklevel=2)
    return scenario


class _Reader(Reader):
    """The sections of a scenario file, each read on its own so that all their mistakes are found."""

    def __init__(self, file: str) -> None:
        super().__init__(_ALIASES)
        self.file = file

    def scenario(self, data: dict, default_name: str, text: str) -> Scenario | None:
        """The :class:`Scenario`, or None when an error was reported."""
        self.known(data, "", SECTIONS, " (a section)")
        meta = self.part(self.meta, data, default_name)
        design = self.part(self.design, data)
        run = self.part(self.run, data)
        model = self.part(self.model, data)
        toxicity = self.part(self.toxicity, data, model)
        doses = self.part(self.doses, data, model)
        regimen = self.part(self.regimen, data, model, doses, toxicity)
        self.part(self.increasing, doses, regimen)
        population = self.part(self.population, data, model)
        conduct = self.part(self.conduct, data, run)
        courses = self.part(self.courses, data, run)
        if self.errors:
            return None
        name, title, description = meta
        return Scenario(
            name=name,
            design=design,
            doses=doses,
            toxicity=toxicity,
            run=run,
            regimen=regimen,
            population=population,
            conduct=conduct,
            courses=courses,
            title=title,
            description=description,
            file=self.file,
            text=text,
        )

    def meta(self, data: dict, default_name: str) -> tuple[str, str, str]:
        meta = self.table(data, "scenario", ("name", "title", "description")) or {}
        name = self.value(meta, "scenario", "name", self.string(), default=default_name)
        title = self.value(meta, "scenario", "title", self.string(), default="")
        description = self.value(meta, "scenario", "description", self.string(), default="")
        self.need(name)
        if isinstance(name, str) and not (_NAME.match(name) and len(name) <= MAX_NAME):
            shown = name if len(name) <= 40 else f"{name[:40]}... ({len(name)} characters)"
            origin = "" if "name" in meta else " (the file's name, as no name is given)"
            self.fail(
                "scenario.name",
                f'"{shown}"{origin} is not allowed; allowed: 1 to {MAX_NAME} letters, digits and _ . + - '
                "(it names the output folder)",
            )
        return name, title, description

    def design(self, data: dict) -> DesignSpec:
        """``[design]``: a registered design's name and parameters, and the target (the keys and
        their ranges come from :mod:`doseesc.registry`)."""
        t = self.table(data, "design", None, required=True)
        names = registry.design_names()
        # The keys allowed depend on the design: check them first (a misspelt "name" is then
        # suggested, not also reported missing).
        entry = registry.design(t["name"]) if t.get("name") in names else None
        params = registry.design_params().values() if entry is None else entry.params
        context = "" if entry is None else f' for design "{entry.name}"'
        allowed = ("name", *(p.name for p in params), *(p.name for p in registry.TARGET))
        self.known(t, "design", allowed, context)
        name = self.value(t, "design", "name", self.string(), required=True)
        if name is not BAD and name not in names:
            listed = ", ".join(names)
            self.report("design.name", f'"{name}" is not a design{self.hint(name, names)} allowed: {listed}')
            name = BAD
        given = tuple((p.name, self.value(t, "design", p.name, self.param(p))) for p in params if p.name in t)
        target, band = (self.value(t, "design", p.name, self.param(p)) for p in registry.TARGET)
        self.need(name, target, band, *(v for _, v in given))
        if band is not None and target is None:
            self.fail("design.target_band", "needs design.target; allowed: [lo, hi] around a target")
        if band is not None and not band[0] <= target <= band[1]:
            self.fail("design.target_band", f"{list(band)} does not contain design.target = {target}")
        return DesignSpec(name, given, target, band)

    def param(self, p: registry.Param) -> Callable[[Any, str], Any]:
        """A converter for a registered parameter: its type and range, its message."""

        def convert(v: Any, path: str) -> Any:
            try:
                return p.convert(v)
            except registry.ParamError as exc:
                self.fail(path, str(exc))

        convert.__doc__ = p.allowed()
        return convert

    def model(self, data: dict) -> str:
        """``toxicity.model``; the table's keys are checked against that model's (all models' while
        it is unknown), before the model is read, so that a misspelt ``model`` is reported once."""
        t = self.table(data, "toxicity", None, required=True)
        model = t.get("model")
        if isinstance(model, str) and model in _MODEL_KEYS:
            self.known(t, "toxicity", ("model", *_MODEL_KEYS[model]), f' for model "{model}"')
        else:
            self.known(t, "toxicity", ("model", *sorted({k for v in _MODEL_KEYS.values() for k in v})))
        model = self.value(t, "toxicity", "model", self.string(MODELS), required=True)
        self.need(model)
        return model

    def toxicity(self, data: dict, model: str) -> ToxicitySpec:
        self.need(model)
        t = data["toxicity"]
        why = f' (required by toxicity.model = "{model}")'

        def get(name: str, convert, **kw):
            return self.value(t, "toxicity", name, convert, why=why, **kw)

        if model == "table":
            probs = self.array(self.probability(), example="[0.05, 0.1, 0.2]")
            p = get("p_dlt", probs, required=True)
            g2 = get("p_grade2", probs)
            g4 = get("p_grade4", probs)
            self.need(p, g2, g4)
            self.table_model(p, g2, g4)
            return TableSpec(p, g2, g4)
        if model == "latent":
            nonneg = self.number(0.0)
            k = get(
                "thresholds", self.array(self.number(), length=3, example="[1.84, 3.04, 3.44]"), required=True
            )
            sp = get("sigma_patient", nonneg, required=True)
            sc = get("sigma_course", nonneg, required=True)
            alpha = get("alpha", nonneg, required=True)
            if k is not BAD and not k[0] < k[1] < k[2]:
                self.fail("toxicity.thresholds", f"{list(k)} is not increasing; allowed: k2 < k3 < k4")
            self.need(k, sp, sc, alpha)
            if sp == 0 and sc == 0:
                self.fail("toxicity.sigma_course", "0 with toxicity.sigma_patient 0; allowed: not both 0")
            return LatentSpec(alpha, sp, sc, k)
        if model == "logistic":
            covariates = ()
            raw = t.get("covariates")
            if raw is not None:
                if not isinstance(raw, list) or not all(isinstance(c, dict) for c in raw):
                    self.fail(
                        "toxicity.covariates",
                        f"got {describe(raw)}; allowed: a list of tables ([[toxicity.covariates]])",
                    )
                covariates = tuple(
                    self.part(self.covariate, c, f"toxicity.covariates[{i}]") for i, c in enumerate(raw)
                )
            values = {
                "p_reference": get("p_reference", self.probability(open_ends=True), required=True),
                "reference_dose": get("reference_dose", self.number(0.0, open_low=True), required=True),
                "slope": get("slope", self.number(0.0), required=True),
                "reference_unit": get("reference_unit", self.string()),
                "carryover_half_life_days": get("carryover_half_life_days", self.number(0.0, open_low=True)),
            }
            self.need(*covariates, *values.values())
            return LogisticSpec(**values, covariates=covariates)
        values = {
            "posterior": get("posterior", self.boolean(), default=False),
            "prior": get("prior", self.string(_HALPC_PRIORS), default="weakly-informative"),
            "cohorts": get("cohorts", self.string(_HALPC_COHORTS), default="fig2"),
            "sentinel_dose": get("sentinel_dose", self.string(_HALPC_SENTINEL_DOSES), default="per_infusion"),
            "other_dlt": get("other_dlt", self.probability(open_ends=True)),
        }
        self.need(*values.values())
        return HalpcSpec(**values)

    def table_model(self, p: tuple, g2: tuple | None, g4: tuple | None) -> None:
        """Checks across the lists of a table model; a falling ``p_dlt`` is only a warning (a
        scenario may mean it, e.g. doses that differ in more than amount)."""
        for name, values in (("p_grade2", g2), ("p_grade4", g4)):
            if values is not None and len(values) != len(p):
                self.fail(
                    f"toxicity.{name}",
                    f"has {len(values)} values but toxicity.p_dlt has {len(p)}; allowed: one per dose",
                )
        if g2 is not None:
            for i, (a, b) in enumerate(zip(p, g2, strict=True)):
                if a + b > 1 + 1e-12:
                    self.fail(
                        f"toxicity.p_grade2[{i}]",
                        f"{fmt(b)} + toxicity.p_dlt[{i}] {fmt(a)} exceeds 1; allowed: p_dlt + p_grade2 <= 1",
                    )
        if g4 is not None:
            for i, (a, b) in enumerate(zip(p, g4, strict=True)):
                if b > a:
                    self.fail(
                        f"toxicity.p_grade4[{i}]",
                        f"{fmt(b)} exceeds toxicity.p_dlt[{i}] = {fmt(a)}; allowed: at most p_dlt "
                        "(grade 4 is part of the DLTs)",
                    )
        falls = next((i for i in range(1, len(p)) if p[i] < p[i - 1]), None)
        if falls is not None:
            self.warn(
                "toxicity.p_dlt",
                f"not increasing ({fmt(p[falls - 1])} at dose {falls} > "
                f"{fmt(p[falls])} at dose {falls + 1}); accepted as given",
            )

    def covariate(self, c: dict, key: str) -> CovariateSpec:
        self.known(c, key, ("covariate", "coefficient", "centre", "log"))
        values = (
            self.value(c, key, "covariate", self.string(_COVARIATES), required=True),
            self.value(c, key, "coefficient", self.number(), required=True),
            self.value(c, key, "centre", self.number(), default=0.0),
            self.value(c, key, "log", self.boolean(), default=False),
        )
        self.need(*values)
        return CovariateSpec(*values)

    def doses(self, data: dict, model: str) -> DoseSpec:
        """The dose levels; the checks that depend on the model are skipped when it is wrong."""
        t = self.table(data, "doses", ("unit", "values", "levels", "start", "step"))
        needs_values = model in ("logistic", "halpc-bleeding")
        if t is None:
            if needs_values or model == "latent":
                self.missing("doses", f'missing; a [doses] table is required by toxicity.model = "{model}"')
            return DoseSpec()
        unit = self.value(
            t,
            "doses",
            "unit",
            self.string(),
            required=needs_values,
            why=f' (required by toxicity.model = "{model}")',
        )
        if unit not in (None, BAD):
            from doseesc.models.units import UNITS, parse_unit

            try:
                parse_unit(unit, "doses.unit")
            except ValueError:
                self.report(
                    "doses.unit",
                    f'"{unit}" is not a dose unit; allowed: {", ".join(UNITS)}, with an optional scale, '
                    "e.g. 1e6cells/kg",
                )
                unit = BAD
        positive = self.number(0.0, open_low=True)
        values = self.value(t, "doses", "values", self.array(positive, example="[0.3, 0.6, 1.2]"))
        levels = self.value(t, "doses", "levels", self.integer(1, 60))
        start = self.value(t, "doses", "start", positive, default=1.0)
        step = self.value(t, "doses", "step", positive, default=0.4)
        if values not in (None, BAD) and levels not in (None, BAD):
            self.fail("doses.levels", "given with doses.values; allowed: one of values or levels")
        self.need(values, levels)
        if levels is None:
            for k in ("start", "step"):
                if k in t:
                    self.report(
                        f"doses.{k}", "only for a ladder (doses.levels); allowed: remove it or give levels"
                    )
        if values is None and model is not BAD and (needs_values or levels is None):
            self.missing(
                "doses.values",
                f'missing (required by toxicity.model = "{model}"); allowed: a list of dose values > 0, '
                "increasing, e.g. [0.3, 0.6, 1.2]" + ("" if needs_values else ", or doses.levels"),
            )
        self.need(unit, start, step)
        return DoseSpec(values=values, unit=unit, levels=levels, start=start, step=step)

    def increasing(self, doses: DoseSpec, regimen: RegimenSpec) -> None:
        self.need(doses, regimen)
        if doses.values is None:
            return
        infusions = regimen.per_level(len(doses.values))
        for i in range(1, len(doses.values)):
            here, before = (doses.values[i], infusions[i]), (doses.values[i - 1], infusions[i - 1])
            if here <= before:
                detail = (
                    f"doses.values[{i}] = {fmt(here[0])} is not above "
                    f"doses.values[{i - 1}] = {fmt(before[0])}"
                )
                allowed = "strictly increasing doses"
                if regimen.varies or isinstance(regimen.infusions, tuple):
                    allowed += " (an equal dose is allowed with more regimen.infusions)"
                self.fail("doses.values", f"{detail}; allowed: {allowed}")

    def regimen(self, data: dict, model: str, doses: DoseSpec, tox: ToxicitySpec) -> RegimenSpec:
        t = self.table(data, "regimen", ("infusions", "interval_days"))
        if t is None:
            return RegimenSpec()
        infusions = self.value(
            t, "regimen", "infusions", self.one_or_array(self.integer(1, 20), "2 or [1, 2, 1, 2]"), default=1
        )
        interval = self.value(t, "regimen", "interval_days", self.number(0.0), default=7.0)
        self.need(infusions, interval)
        if isinstance(infusions, tuple):
            self.need(model)
            if model not in ("logistic", "halpc-bleeding"):
                self.fail(
                    "regimen.infusions",
                    "a list (one per dose) needs a model that reads the regimen; "
                    f'toxicity.model is "{model}"; '
                    "allowed: one number, or toxicity.model logistic or halpc-bleeding",
                )
            self.need(doses, tox)
            n = len(tox.p_dlt) if isinstance(tox, TableSpec) else doses.n
            if len(infusions) != n:
                self.fail(
                    "regimen.infusions", f"has {len(infusions)} values for {n} doses; allowed: one per dose"
                )
            if len(set(infusions)) == 1:
                infusions = infusions[0]
        return RegimenSpec(infusions, interval)

    def population(self, data: dict, model: str) -> PopulationSpec | None:
        t = self.table(data, "population", ("eligibility", *_ELIGIBILITY_CHANGES))
        if t is None:
            return None
        self.need(model)
        if model not in ("logistic", "halpc-bleeding"):
            self.fail(
                "population",
                f'not used by toxicity.model = "{model}"; allowed with logistic or halpc-bleeding',
            )
        eligibility = self.value(t, "population", "eligibility", self.string(ELIGIBILITY), default="halpc")
        changes = tuple(
            (k, self.value(t, "population", k, self.number(0.0))) for k in _ELIGIBILITY_CHANGES if k in t
        )
        self.need(eligibility, *(v for _, v in changes))
        low, high = dict(changes).get("age_min", 18.0), dict(changes).get("age_max", math.inf)
        if eligibility == "nct05727722" and "age_max" not in t:
            high = 65.0
        if low >= high:
            self.fail(
                "population.age_max",
                f"{fmt(high)} is not above age_min {fmt(low)}; allowed: age_min < age_max",
            )
        return PopulationSpec(eligibility, changes)

    def conduct(self, data: dict, run: RunSpec) -> ConductSpec | None:
        """The conduct in calendar time; whether the events engine needs it is checked only when
        ``run`` was read."""
        keys = ("preset", "accrual_per_month", "disease", *CONDUCT_FIELDS)
        t = self.table(data, "conduct", keys)
        events = run is not BAD and "events" in run.engines
        if t is None:
            if events:
                self.missing(
                    "conduct",
                    "missing; the events engine needs a [conduct] table (conduct.accrual_per_month)",
                )
            return None
        if run is not BAD and not events:
            self.fail(
                "conduct",
                'only used by the events engine; allowed: add "events" to run.engines, or remove it',
            )
        preset = self.value(t, "conduct", "preset", self.string(CONDUCT_PRESETS))
        accrual = self.value(
            t,
            "conduct",
            "accrual_per_month",
            self.one_or_array(self.number(0.0, open_low=True), "2 or [1.5, 0.5]"),
            required=True,
        )
        settings = []
        for key in CONDUCT_FIELDS:
            if key not in t:
                continue
            if key in _CONDUCT_CHOICES:
                v = self.value(t, "conduct", key, self.string(_CONDUCT_CHOICES[key]))
            elif key in ("screen_failure", "halt_probability"):
                v = self.value(t, "conduct", key, self.probability())
            elif key == "max_wait_days":
                v = self.value(
                    t, "conduct", key, self.number(0.0, finite=False, what="a number of days >= 0, or inf")
                )
            else:
                v = self.value(t, "conduct", key, self.number(0.0, what="a number of days >= 0"))
            settings.append((key, v))
        disease = self.disease(t.get("disease"), preset)
        self.need(preset, accrual, *(v for _, v in settings), disease)
        accrual = accrual if isinstance(accrual, tuple) else (accrual,)
        return ConductSpec(accrual, preset, tuple(settings), disease)

    def disease(self, raw: Any, preset: str | None) -> DiseaseSpec | str | None:
        """``conduct.disease``: a table, false (none), or absent (the preset's, if any); BAD if wrong."""
        if raw is False:
            return None
        if raw is None:
            return "preset" if preset else None
        key = "conduct.disease"
        if not isinstance(raw, dict):
            self.report(key, f"got {describe(raw)}; allowed: a table [conduct.disease], or false")
            return BAD
        self.known(raw, key, ("aclf_fraction", "transplant_share", "aclf_risk", "ad_risk"))
        risks = self.array(self.probability(), length=2, example="[0.328, 0.512]")
        values = (
            self.value(raw, key, "aclf_fraction", self.probability(), required=True),
            self.value(raw, key, "transplant_share", self.probability(), default=0.0),
            self.value(raw, key, "aclf_risk", risks, default=DiseaseSpec(0.0).aclf_risk),
            self.value(raw, key, "ad_risk", risks, default=DiseaseSpec(0.0).ad_risk),
        )
        if BAD in values:
            return BAD
        disease = DiseaseSpec(*values)
        for name in ("aclf_risk", "ad_risk"):
            d28, m3 = getattr(disease, name)
            if not d28 <= m3 < 1:
                self.report(
                    f"{key}.{name}", f"[{fmt(d28)}, {fmt(m3)}]; allowed: Day-28 risk <= Month-3 risk < 1"
                )
                return BAD
        return disease

    def courses(self, data: dict, run: RunSpec) -> CourseSpec | None:
        t = self.table(data, "courses", ("courses", "intrapatient", "on_dlt", "low_level"))
        if t is None:
            return None
        if run is not BAD and not {"courses", "events"} & set(run.engines):
            self.fail(
                "courses",
                'only used by the courses and events engines; allowed: add "courses" or "events" to '
                "run.engines, or remove it",
            )
        values = {
            "courses": self.value(t, "courses", "courses", self.integer(1, 20), default=1),
            "intrapatient": self.value(t, "courses", "intrapatient", self.boolean()),
            "on_dlt": self.value(t, "courses", "on_dlt", self.string(("stop", "reduce")), default="stop"),
            "low_level": self.value(t, "courses", "low_level", self.integer(0), default=0),
        }
        self.need(*values.values())
        return CourseSpec(**values)

    def run(self, data: dict) -> RunSpec:
        t = self.table(data, "run", ("engines", "trials", "seed"), required=True)
        engines = self.value(
            t, "run", "engines", self.array(self.string(ENGINES), example='["exact", "mc"]'), required=True
        )
        if engines is not BAD and len(set(engines)) != len(engines):
            self.report(
                "run.engines",
                f"{list(engines)} lists an engine twice; allowed: each of {', '.join(ENGINES)} once",
            )
            engines = BAD
        trials: dict[str, Any] = dict(DEFAULT_TRIALS)
        raw = t.get("trials")
        if isinstance(raw, dict):
            self.known(raw, "run.trials", SIMULATION_ENGINES)
            for e in raw:
                trials[e] = self.value(raw, "run.trials", e, self.integer(1, 10**10))
        elif raw is not None:
            n = self.value(t, "run", "trials", self.integer(1, 10**10))
            trials = {e: n for e in SIMULATION_ENGINES}
        seed = self.value(t, "run", "seed", self.integer(0))
        self.need(engines, seed, *trials.values())
        return RunSpec(tuple(engines), tuple(trials.items()), seed)


_CONDUCT_KEY = {v: k for k, v in CONDUCT_FIELDS.items()} | {"accrual_per_month": "accrual_per_month"}


def _scenario_keys(message: str) -> str:
    """Name the fields of :class:`Conduct` and :class:`DiseaseCourse` by their scenario keys."""
    message = re.sub(
        r"\bConduct\.(\w+)", lambda m: f"conduct.{_CONDUCT_KEY.get(m.group(1), m.group(1))}", message
    )
    message = re.sub(r"\bConduct\.interval_days\b", "regimen.interval_days", message)
    return re.sub(r"\bDiseaseCourse\.(\w+)", r"conduct.disease.\1", message)


def _dry_build(s: Scenario) -> None:
    """Build the design, model and conduct of every engine once (errors name the file)."""
    try:
        design = None
        for engine in s.run.engines:
            design, _ = s.build(engine)
            if getattr(design, "calendar_time_only", False):
                # Its results have no per-trial durations or event log for the results folder.
                raise SpecError(
                    f"<design.name> {s.design.name}: run it with doseesc simulate --engine events or from "
                    "Python (doseesc.engines.tite.simulate_tite); scenario files do not take it"
                )
        if s.conduct is not None:
            conduct = s.build_conduct(design)
            most = max(conduct.level_infusions(s.n_doses))
            if most > 1 and conduct.interval_days * (most - 1) > conduct.window_days:
                raise SpecError(
                    "<regimen.interval_days> puts an infusion after the DLT window (conduct.window_days)"
                )
        if s.courses is not None:
            s.course_options()
    except SpecError as exc:
        raise ScenarioError(s.file, exc.render()) from None
    except ValueError as exc:
        text = _scenario_keys(str(exc))
        if not re.match(r"^[a-z_]+(\.[a-z_\[\]0-9]+)*[ :]", text):
            text = f"{_section_of(text)}: {text}"
        raise ScenarioError(s.file, text) from None


def _section_of(message: str) -> str:
    for word, key in (("dose", "doses"), ("courses", "courses"), ("design", "design")):
        if word in message:
            return key
    return "toxicity"


__all__ = [
    "DEFAULT_TRIALS",
    "RunSpec",
    "Scenario",
    "ScenarioError",
    "ScenarioResult",
    "ScenarioWarning",
    "ToxicityCurve",
    "load",
    "parse",
    "parse_data",
    "run_scenario",
    "summary",
    "toxicity_curve",
]
