"""Scenario files: a trial's design, doses, toxicity model, population, conduct and engines in TOML.

:func:`load` parses a file with :mod:`tomllib` and validates it into a frozen :class:`Scenario` made
of the settings of :mod:`doseesc.build`; it also builds the design, the model and the conduct once,
so that a file that loads will run.  Every error is a :class:`ScenarioError`, one line naming the
file, the key path (``toxicity.p_dlt[2]``) and what is allowed; a TOML syntax error keeps
tomllib's line and column.  The schema, with an example for every key, is ``docs/scenarios.md``.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from doseesc.build import (
    CONDUCT_FIELDS,
    CONDUCT_PRESETS,
    DESIGNS,
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

DEFAULT_TRIALS = {"mc": 100_000, "courses": 20_000, "events": 2_000}
"""Simulated trials per engine when ``run.trials`` does not say."""

SECTIONS = ("scenario", "design", "doses", "toxicity", "regimen", "population", "conduct", "courses", "run")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
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
    "halpc-bleeding": ("posterior", "prior", "cohorts", "other_dlt"),
}
_HALPC_PRIORS = ("weakly-informative", "sceptical")
_HALPC_COHORTS = ("fig2", "least-exposure", "most-exposure")
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


class ScenarioError(ValueError):
    """A scenario file that cannot be used: one line, ``FILE: KEY ...: what is allowed``."""

    def __init__(self, file: str, message: str) -> None:
        self.file = file
        self.message = message
        super().__init__(f"{file}: {message}")


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
        kind = "courses" if engine == "courses" else "single course"
        model = None if models is None else models.get(kind)
        if model is None:
            model = make_model(self.toxicity, self.doses, self.regimen, self.population, engine=engine)
            if models is not None:
                models[kind] = model
        design = make_design(self.design, model.n_doses)
        check(design, model, engine, self.toxicity)
        return design, model

    def build_conduct(self):
        return None if self.conduct is None else make_conduct(self.conduct, self.regimen)

    def course_options(self):
        return course_options(self.courses or CourseSpec(), self.design.name)

    def to_dict(self) -> dict[str, Any]:
        """The validated settings as JSON-ready data (the inputs of a run)."""
        out: dict[str, Any] = {"name": self.name, "title": self.title, "description": self.description}
        out["file"] = self.file
        for key in ("design", "doses", "toxicity", "regimen", "population", "conduct", "courses"):
            out[key] = spec_dict(getattr(self, key))
        out["run"] = {
            "engines": list(self.run.engines),
            "trials": {e: self.run.trials_for(e) for e in self.run.engines if e in SIMULATION_ENGINES},
            "seed": self.run.seed,
        }
        return out


def load(path: str | Path) -> Scenario:
    """Read, parse and validate a scenario file (``ScenarioError`` on any problem)."""
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
    return parse_data(data, file, default_name=default_name, text=text)


def parse_data(
    data: dict, file: str = "<scenario>", *, default_name: str = "scenario", text: str = ""
) -> Scenario:
    """Validate already-parsed TOML ``data`` (named ``file`` in errors; ``text`` kept as the file's
    text) into a :class:`Scenario` and build it once, as :func:`parse` does."""
    scenario = _Reader(file).scenario(data, default_name, text)
    _dry_build(scenario)
    return scenario


# ---------------------------------------------------------------------------------------------
# Values


def _describe(value: Any) -> str:
    kinds = {bool: "a boolean", str: "a string", int: "an integer", float: "a number", list: "a list"}
    if isinstance(value, dict):
        return "a table"
    kind = kinds.get(type(value), type(value).__name__)
    shown = f'"{value}"' if isinstance(value, str) else str(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return f"{kind} ({shown})" if not isinstance(value, dict) else kind


def _fmt(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


class _Reader:
    """Typed access to the parsed TOML, raising :class:`ScenarioError` with key paths."""

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, key: str, message: str) -> NoReturn:
        raise ScenarioError(self.file, f"{key}: {message}" if key else message)

    # -- tables ------------------------------------------------------------------------------

    def table(self, data: dict, key: str, allowed: Iterable[str], *, required: bool = False) -> dict | None:
        """The sub-table ``key`` of ``data`` (a path), with only ``allowed`` keys."""
        value = data.get(key)
        if value is None:
            if required:
                self.fail(key, f"missing; a [{key}] table is required")
            return None
        if not isinstance(value, dict):
            self.fail(key, f"got {_describe(value)}; allowed: a table [{key}]")
        self.known(value, key, allowed)
        return value

    def known(self, table: dict, key: str, allowed: Iterable[str], context: str = "") -> None:
        allowed = tuple(allowed)
        for k in table:
            if k not in allowed:
                where = f"{key}.{k}" if key else k
                self.fail(where, f"unknown key{context}; allowed: {', '.join(allowed)}")

    # -- scalars -----------------------------------------------------------------------------

    def value(
        self,
        table: dict,
        key: str,
        name: str,
        convert: Callable[[Any, str], Any],
        *,
        required=False,
        default: Any = None,
        why: str = "",
    ) -> Any:
        path = f"{key}.{name}" if key else name
        if name not in table:
            if required:
                self.fail(path, f"missing{why}; allowed: {convert.__doc__}")
            return default
        return convert(table[name], path)

    def string(self, choices: tuple[str, ...] | None = None) -> Callable[[Any, str], str]:
        def convert(v: Any, path: str) -> str:
            if not isinstance(v, str):
                self.fail(path, f"got {_describe(v)}; allowed: {convert.__doc__}")
            if choices is not None and v not in choices:
                self.fail(path, f'"{v}" is not allowed; allowed: {", ".join(choices)}')
            return v

        convert.__doc__ = "a string" if choices is None else f"one of {', '.join(choices)}"
        return convert

    def boolean(self) -> Callable[[Any, str], bool]:
        def convert(v: Any, path: str) -> bool:
            if not isinstance(v, bool):
                self.fail(path, f"got {_describe(v)}; allowed: true or false")
            return v

        convert.__doc__ = "true or false"
        return convert

    def integer(self, low: int = 0, high: int | None = None) -> Callable[[Any, str], int]:
        allowed = f"a whole number >= {low}" if high is None else f"a whole number from {low} to {high}"

        def convert(v: Any, path: str) -> int:
            if isinstance(v, bool) or not isinstance(v, int):
                self.fail(path, f"got {_describe(v)}; allowed: {allowed}")
            if v < low or (high is not None and v > high):
                self.fail(path, f"{v} is out of range; allowed: {allowed}")
            return v

        convert.__doc__ = allowed
        return convert

    def number(
        self,
        low: float = -math.inf,
        high: float = math.inf,
        *,
        open_low=False,
        open_high=False,
        finite=True,
        what: str | None = None,
    ) -> Callable[[Any, str], float]:
        if what is None:
            left, right = "(" if open_low else "[", ")" if open_high or math.isinf(high) else "]"
            if math.isinf(low) and math.isinf(high):
                what = "a number"
            elif math.isinf(high):
                what = f"a number {'>' if open_low else '>='} {low:g}"
            else:
                what = f"a number in {left}{low:g}, {high:g}{right}"

        def convert(v: Any, path: str) -> float:
            if isinstance(v, bool) or not isinstance(v, int | float):
                self.fail(path, f"got {_describe(v)}; allowed: {what}")
            x = float(v)
            ok = (low < x if open_low else low <= x) and (x < high if open_high else x <= high)
            if not ok or (finite and not math.isfinite(x)) or math.isnan(x):
                self.fail(path, f"{_fmt(x)} is out of range; allowed: {what}")
            return x

        convert.__doc__ = what
        return convert

    def probability(self, *, open_ends: bool = False) -> Callable[[Any, str], float]:
        if open_ends:
            return self.number(0.0, 1.0, open_low=True, open_high=True, what="a probability in (0, 1)")
        return self.number(0.0, 1.0, what="a probability in [0, 1]")

    def array(
        self,
        item: Callable[[Any, str], Any],
        *,
        length: int | None = None,
        example: str = "",
    ) -> Callable[[Any, str], tuple]:
        size = "a list" if length is None else f"a list of {length}"
        allowed = f"{size} of {_plural(item.__doc__)}" + (f", e.g. {example}" if example else "")

        def convert(v: Any, path: str) -> tuple:
            if not isinstance(v, list):
                self.fail(path, f"got {_describe(v)}; allowed: {allowed}")
            if not v:
                self.fail(path, f"is empty; allowed: {allowed}")
            if length is not None and len(v) != length:
                self.fail(path, f"has {len(v)} values; allowed: {allowed}")
            return tuple(item(x, f"{path}[{i}]") for i, x in enumerate(v))

        convert.__doc__ = allowed
        return convert

    def one_or_array(self, item: Callable[[Any, str], Any], example: str) -> Callable[[Any, str], Any]:
        allowed = f"{item.__doc__}, or a list of them, e.g. {example}"

        def convert(v: Any, path: str) -> Any:
            if isinstance(v, list):
                return self.array(item)(v, path)
            if isinstance(v, dict | str | bool) or not isinstance(v, int | float):
                self.fail(path, f"got {_describe(v)}; allowed: {allowed}")
            return item(v, path)

        convert.__doc__ = allowed
        return convert

    # -- sections ----------------------------------------------------------------------------

    def scenario(self, data: dict, default_name: str, text: str) -> Scenario:
        self.known(data, "", SECTIONS, " (a section)")
        for section in SECTIONS:
            if section in data and not isinstance(data[section], dict):
                self.fail(section, f"got {_describe(data[section])}; allowed: a table [{section}]")
        meta = self.table(data, "scenario", ("name", "title", "description")) or {}
        name = self.value(meta, "scenario", "name", self.string(), default=default_name)
        if not _NAME.match(name):
            self.fail(
                "scenario.name",
                f'"{name}" is not allowed; allowed: letters, digits and _ . + - (it names the output folder)',
            )
        title = self.value(meta, "scenario", "title", self.string(), default="")
        description = self.value(meta, "scenario", "description", self.string(), default="")

        design = self.design(data)
        run = self.run(data)
        tox_table = self.table(
            data, "toxicity", ("model", *sorted({k for v in _MODEL_KEYS.values() for k in v})), required=True
        )
        model = self.value(tox_table, "toxicity", "model", self.string(MODELS), required=True)
        toxicity = self.toxicity(tox_table, model)
        doses = self.doses(data, model)
        regimen = self.regimen(data, model, doses, toxicity)
        self.increasing(doses, regimen)
        population = self.population(data, model)
        conduct = self.conduct(data, run)
        courses = self.courses(data, run)
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

    def design(self, data: dict) -> DesignSpec:
        t = self.table(data, "design", ("name", "deescalate", "expand_top"), required=True)
        name = self.value(t, "design", "name", self.string(), required=True)
        if name not in DESIGNS:
            self.fail("design.name", f'"{name}" is not a design; allowed: {", ".join(DESIGNS)}')
        deescalate = self.value(t, "design", "deescalate", self.boolean(), default=None)
        expand_top = self.value(t, "design", "expand_top", self.boolean(), default=None)
        if name == "nct05727722":
            for key, v in (("deescalate", deescalate), ("expand_top", expand_top)):
                if v is False:
                    self.fail(
                        f"design.{key}",
                        "the nct05727722 design always has it (its MTD rule: <= 1 DLT in >= 6 patients); "
                        "allowed: true, or leave it out",
                    )
        return DesignSpec(name, bool(deescalate), bool(expand_top))

    def toxicity(self, t: dict, model: str) -> ToxicitySpec:
        self.known(t, "toxicity", ("model", *_MODEL_KEYS[model]), f' for model "{model}"')
        why = f' (required by toxicity.model = "{model}")'

        def get(name: str, convert, **kw):
            return self.value(t, "toxicity", name, convert, why=why, **kw)

        if model == "table":
            probs = self.array(self.probability(), example="[0.05, 0.1, 0.2]")
            p = get("p_dlt", probs, required=True)
            g2 = get("p_grade2", probs)
            g4 = get("p_grade4", probs)
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
                            f"{_fmt(b)} + toxicity.p_dlt[{i}] {_fmt(a)} exceeds 1; "
                            "allowed: p_dlt + p_grade2 <= 1",
                        )
            if g4 is not None:
                for i, (a, b) in enumerate(zip(p, g4, strict=True)):
                    if b > a:
                        self.fail(
                            f"toxicity.p_grade4[{i}]",
                            f"{_fmt(b)} exceeds toxicity.p_dlt[{i}] = {_fmt(a)}; allowed: at most p_dlt "
                            "(grade 4 is part of the DLTs)",
                        )
            return TableSpec(p, g2, g4)
        if model == "latent":
            nonneg = self.number(0.0)
            k = get(
                "thresholds", self.array(self.number(), length=3, example="[1.84, 3.04, 3.44]"), required=True
            )
            if not k[0] < k[1] < k[2]:
                self.fail("toxicity.thresholds", f"{list(k)} is not increasing; allowed: k2 < k3 < k4")
            sp = get("sigma_patient", nonneg, required=True)
            sc = get("sigma_course", nonneg, required=True)
            if sp == 0 and sc == 0:
                self.fail("toxicity.sigma_course", "0 with toxicity.sigma_patient 0; allowed: not both 0")
            return LatentSpec(get("alpha", nonneg, required=True), sp, sc, k)
        if model == "logistic":
            covariates = ()
            raw = t.get("covariates")
            if raw is not None:
                if not isinstance(raw, list) or not all(isinstance(c, dict) for c in raw):
                    self.fail(
                        "toxicity.covariates",
                        f"got {_describe(raw)}; allowed: a list of tables ([[toxicity.covariates]])",
                    )
                covariates = tuple(self.covariate(c, f"toxicity.covariates[{i}]") for i, c in enumerate(raw))
            return LogisticSpec(
                p_reference=get("p_reference", self.probability(open_ends=True), required=True),
                reference_dose=get("reference_dose", self.number(0.0, open_low=True), required=True),
                slope=get("slope", self.number(0.0), required=True),
                reference_unit=get("reference_unit", self.string()),
                carryover_half_life_days=get("carryover_half_life_days", self.number(0.0, open_low=True)),
                covariates=covariates,
            )
        return HalpcSpec(
            posterior=get("posterior", self.boolean(), default=False),
            prior=get("prior", self.string(_HALPC_PRIORS), default="weakly-informative"),
            cohorts=get("cohorts", self.string(_HALPC_COHORTS), default="fig2"),
            other_dlt=get("other_dlt", self.probability(open_ends=True)),
        )

    def covariate(self, c: dict, key: str) -> CovariateSpec:
        self.known(c, key, ("covariate", "coefficient", "centre", "log"))
        return CovariateSpec(
            self.value(c, key, "covariate", self.string(_COVARIATES), required=True),
            self.value(c, key, "coefficient", self.number(), required=True),
            self.value(c, key, "centre", self.number(), default=0.0),
            self.value(c, key, "log", self.boolean(), default=False),
        )

    def doses(self, data: dict, model: str) -> DoseSpec:
        t = self.table(data, "doses", ("unit", "values", "levels", "start", "step"))
        needs_values = model in ("logistic", "halpc-bleeding")
        if t is None:
            if needs_values or model == "latent":
                self.fail("doses", f'missing; a [doses] table is required by toxicity.model = "{model}"')
            return DoseSpec()
        unit = self.value(
            t,
            "doses",
            "unit",
            self.string(),
            required=needs_values,
            why=f' (required by toxicity.model = "{model}")',
        )
        if unit is not None:
            from doseesc.models.units import UNITS, parse_unit

            try:
                parse_unit(unit, "doses.unit")
            except ValueError:
                self.fail(
                    "doses.unit",
                    f'"{unit}" is not a dose unit; allowed: {", ".join(UNITS)}, with an optional scale, '
                    "e.g. 1e6cells/kg",
                )
        positive = self.number(0.0, open_low=True)
        values = self.value(t, "doses", "values", self.array(positive, example="[0.3, 0.6, 1.2]"))
        levels = self.value(t, "doses", "levels", self.integer(1, 60))
        if values is not None and levels is not None:
            self.fail("doses.levels", "given with doses.values; allowed: one of values or levels")
        if levels is None:
            for k in ("start", "step"):
                if k in t:
                    self.fail(
                        f"doses.{k}", "only for a ladder (doses.levels); allowed: remove it or give levels"
                    )
        if values is None and (needs_values or levels is None):
            self.fail(
                "doses.values",
                f'missing (required by toxicity.model = "{model}"); allowed: a list of dose values > 0, '
                "increasing, e.g. [0.3, 0.6, 1.2]" + ("" if needs_values else ", or doses.levels"),
            )
        return DoseSpec(
            values=values,
            unit=unit,
            levels=levels,
            start=self.value(t, "doses", "start", positive, default=1.0),
            step=self.value(t, "doses", "step", positive, default=0.4),
        )

    def increasing(self, doses: DoseSpec, regimen: RegimenSpec) -> None:
        if doses.values is None:
            return
        infusions = regimen.per_level(len(doses.values))
        for i in range(1, len(doses.values)):
            here, before = (doses.values[i], infusions[i]), (doses.values[i - 1], infusions[i - 1])
            if here <= before:
                detail = (
                    f"doses.values[{i}] = {_fmt(here[0])} is not above "
                    f"doses.values[{i - 1}] = {_fmt(before[0])}"
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
        if isinstance(infusions, tuple):
            n = len(tox.p_dlt) if isinstance(tox, TableSpec) else doses.n
            if model not in ("logistic", "halpc-bleeding"):
                self.fail(
                    "regimen.infusions",
                    "a list (one per dose) needs a model that reads the regimen; "
                    f'toxicity.model is "{model}"; '
                    "allowed: one number, or toxicity.model logistic or halpc-bleeding",
                )
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
        if model not in ("logistic", "halpc-bleeding"):
            self.fail(
                "population",
                f'not used by toxicity.model = "{model}"; allowed with logistic or halpc-bleeding',
            )
        eligibility = self.value(t, "population", "eligibility", self.string(ELIGIBILITY), default="halpc")
        changes = tuple(
            (k, self.value(t, "population", k, self.number(0.0))) for k in _ELIGIBILITY_CHANGES if k in t
        )
        low, high = dict(changes).get("age_min", 18.0), dict(changes).get("age_max", math.inf)
        if eligibility == "nct05727722" and "age_max" not in t:
            high = 65.0
        if low >= high:
            self.fail(
                "population.age_max",
                f"{_fmt(high)} is not above age_min {_fmt(low)}; allowed: age_min < age_max",
            )
        return PopulationSpec(eligibility, changes)

    def conduct(self, data: dict, run: RunSpec) -> ConductSpec | None:
        keys = ("preset", "accrual_per_month", "disease", *CONDUCT_FIELDS)
        t = self.table(data, "conduct", keys)
        if t is None:
            if "events" in run.engines:
                self.fail(
                    "conduct",
                    "missing; the events engine needs a [conduct] table (conduct.accrual_per_month)",
                )
            return None
        if "events" not in run.engines:
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
        accrual = accrual if isinstance(accrual, tuple) else (accrual,)
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
        disease: DiseaseSpec | str | None = "preset" if preset else None
        raw = t.get("disease")
        if raw is False:
            disease = None
        elif isinstance(raw, dict):
            key = "conduct.disease"
            self.known(raw, key, ("aclf_fraction", "transplant_share", "aclf_risk", "ad_risk"))
            risks = self.array(self.probability(), length=2, example="[0.328, 0.512]")
            disease = DiseaseSpec(
                self.value(raw, key, "aclf_fraction", self.probability(), required=True),
                self.value(raw, key, "transplant_share", self.probability(), default=0.0),
                self.value(raw, key, "aclf_risk", risks, default=DiseaseSpec(0.0).aclf_risk),
                self.value(raw, key, "ad_risk", risks, default=DiseaseSpec(0.0).ad_risk),
            )
            for name in ("aclf_risk", "ad_risk"):
                d28, m3 = getattr(disease, name)
                if not d28 <= m3 < 1:
                    self.fail(
                        f"{key}.{name}",
                        f"[{_fmt(d28)}, {_fmt(m3)}]; allowed: Day-28 risk <= Month-3 risk < 1",
                    )
        elif raw is not None:
            self.fail(
                "conduct.disease", f"got {_describe(raw)}; allowed: a table [conduct.disease], or false"
            )
        return ConductSpec(accrual, preset, tuple(settings), disease)

    def courses(self, data: dict, run: RunSpec) -> CourseSpec | None:
        t = self.table(data, "courses", ("courses", "intrapatient", "on_dlt", "low_level"))
        if t is None:
            return None
        if "courses" not in run.engines:
            self.fail(
                "courses",
                'only used by the courses engine; allowed: add "courses" to run.engines, or remove it',
            )
        return CourseSpec(
            courses=self.value(t, "courses", "courses", self.integer(1, 20), default=1),
            intrapatient=self.value(t, "courses", "intrapatient", self.boolean()),
            on_dlt=self.value(t, "courses", "on_dlt", self.string(("stop", "reduce")), default="stop"),
            low_level=self.value(t, "courses", "low_level", self.integer(0), default=0),
        )

    def run(self, data: dict) -> RunSpec:
        t = self.table(data, "run", ("engines", "trials", "seed"), required=True)
        engines = self.value(
            t, "run", "engines", self.array(self.string(ENGINES), example='["exact", "mc"]'), required=True
        )
        if len(set(engines)) != len(engines):
            self.fail(
                "run.engines",
                f"{list(engines)} lists an engine twice; allowed: each of {', '.join(ENGINES)} once",
            )
        trials = dict(DEFAULT_TRIALS)
        raw = t.get("trials")
        count = self.integer(1, 10**10)
        if isinstance(raw, dict):
            self.known(raw, "run.trials", SIMULATION_ENGINES)
            for e, v in raw.items():
                trials[e] = count(v, f"run.trials.{e}")
        elif raw is not None:
            n = self.value(t, "run", "trials", self.integer(1, 10**10))
            trials = {e: n for e in SIMULATION_ENGINES}
        seed = self.value(t, "run", "seed", self.integer(0))
        return RunSpec(tuple(engines), tuple(trials.items()), seed)


def _plural(what: str | None) -> str:
    """The plural of an allowed value's description: "a probability in [0, 1]" -> "probabilities
    in [0, 1]"; "one of a, b" -> "values among a, b"."""
    what = what or "values"
    if what.startswith("one of "):
        return "values among " + what[len("one of ") :]
    for a in ("a ", "an "):
        if what.startswith(a):
            noun, _, rest = what[len(a) :].partition(" ")
            noun = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
            return f"{noun} {rest}".strip()
    return what


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
        for engine in s.run.engines:
            s.build(engine)
        if s.conduct is not None:
            conduct = s.build_conduct()
            if (
                conduct.infusions > 1
                and conduct.interval_days * (conduct.infusions - 1) > conduct.window_days
            ):
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


def summary(s: Scenario) -> str:
    """One line describing a valid scenario (``doseesc validate``)."""
    doses = s.doses.array()
    if doses is None:
        dose_text = f"{s.n_doses} dose levels"
    else:
        shown = [f"{v:.4g}" for v in doses]
        if len(shown) > 8:
            shown = [*shown[:3], "...", shown[-1]]
        unit = f" {s.doses.unit}" if s.doses.unit else ""
        dose_text = f"{len(doses)} dose{'s' if len(doses) > 1 else ''} {', '.join(shown)}{unit}"
    tox = s.toxicity.model + (" with posterior" if getattr(s.toxicity, "posterior", False) else "")
    infusions = s.regimen.infusions
    regimen = (
        f", infusions {list(infusions) if isinstance(infusions, tuple) else infusions}"
        if infusions != 1
        else ""
    )
    engines = ", ".join(s.run.engines)
    return f"{s.name}: design {s.design.name}, {dose_text}{regimen}, model {tox}, engines {engines}"


# ---------------------------------------------------------------------------------------------
# Running


@dataclass(frozen=True, eq=False)
class ToxicityCurve:
    """What the scenario's toxicity model says per dose level: labels for tables and figures, the
    mean DLT probability per patient (population- and, with a posterior, posterior-averaged, over
    the whole regimen), grade-2 and named kinds of DLT where the model gives them, and the
    calibration's credible band where it has one."""

    labels: tuple[str, ...]
    axis: str
    """Dose axis label with its unit (matplotlib mathtext)."""
    unit_text: str
    """The unit in plain text ("1e6 cells/kg"), "" for dose levels without values."""
    values: tuple[float, ...] | None
    infusions: tuple[int, ...]
    p_dlt: np.ndarray
    p_grade2: np.ndarray | None = None
    events: dict[str, np.ndarray] = field(default_factory=dict)
    band: Any = None
    """A :class:`~doseesc.plots.oc.Band` (HALPC bleeding model in cells/kg), or None."""
    band_level: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "dose_labels": list(self.labels),
            "dose_values": None if self.values is None else list(self.values),
            "dose_unit": self.unit_text,
            "infusions": list(self.infusions),
            "p_dlt": self.p_dlt.tolist(),
            "p_grade2": None if self.p_grade2 is None else self.p_grade2.tolist(),
            "events": {k: v.tolist() for k, v in self.events.items()},
            "calibration_band": None,
        }
        if self.band is not None:
            out["calibration_band"] = {
                "description": self.band.label,
                "level": self.band_level,
                "median": self.band.median.tolist(),
                "lower": self.band.lower.tolist(),
                "upper": self.band.upper.tolist(),
            }
        return out


@dataclass(frozen=True, eq=False)
class ScenarioResult:
    """One run of a scenario: each engine's result, the seed used and the toxicity curve."""

    scenario: Scenario
    seed: int
    results: dict[str, Any]
    toxicity: ToxicityCurve

    def oc(self, engine: str):
        """The :class:`~doseesc.results.OperatingCharacteristics` of ``engine``."""
        r = self.results[engine]
        return getattr(r, "oc", r)

    def to_dict(self) -> dict[str, Any]:
        from doseesc import __version__

        return {
            "version": __version__,
            "scenario": self.scenario.to_dict(),
            "seed": self.seed,
            "toxicity": self.toxicity.to_dict(),
            "engines": {e: r.to_dict() for e, r in self.results.items()},
            "scenario_toml": self.scenario.text,
        }


def _unit_text(unit: str | None) -> tuple[str, str]:
    """(plain, mathtext) spellings of a scaled unit: ("1e6 cells/kg", "$10^{6}$ cells/kg")."""
    if unit is None:
        return "", ""
    from doseesc.models.units import parse_unit

    scale, base = parse_unit(unit)
    if scale == 1:
        return base, base
    exponent = math.log10(scale)
    if abs(exponent - round(exponent)) < 1e-9:
        e = round(exponent)
        return f"1e{e} {base}", f"$10^{{{e}}}$ {base}"
    return f"{scale:g} {base}", f"{scale:g} {base}"


def _dose_label(v: float) -> str:
    """A dose value for tables and axes: three significant digits, whole numbers from 100 up."""
    return f"{v:.3g}" if v < 100 else f"{v:,.0f}"


def toxicity_curve(s: Scenario, model) -> ToxicityCurve:
    """The :class:`ToxicityCurve` of scenario ``s`` whose model (for one engine) is ``model``."""
    from doseesc.build import calibration_band, exact_inputs

    n = model.n_doses
    values = s.doses.array()
    plain, math_unit = _unit_text(s.doses.unit)
    infusions = s.regimen.per_level(n)
    if values is None:
        labels = tuple(str(i + 1) for i in range(n))
        axis = "dose level"
    else:
        labels = tuple(_dose_label(v) for v in values)
        axis = f"dose ({math_unit})" if math_unit else "dose"
        if s.doses.values is None:
            axis += f", ladder of {100 * s.doses.step:g}% steps"
    if s.regimen.varies:
        labels = tuple(f"{lab} \N{MULTIPLICATION SIGN}{k}" for lab, k in zip(labels, infusions, strict=True))
        axis = f"{axis} \N{MULTIPLICATION SIGN} infusions ({s.regimen.interval_days:g} days apart)"
    elif infusions[0] > 1:
        axis = f"{axis} per infusion, {infusions[0]} infusions {s.regimen.interval_days:g} days apart"
    p, g2 = exact_inputs(model)
    events = {}
    average = getattr(model, "average_probabilities", None)
    if average is not None and model.events:
        events = {name: np.array(average[1 + i]) for i, name in enumerate(model.events)}
    band = calibration_band(s.toxicity, s.doses, s.regimen)
    return ToxicityCurve(
        labels=labels,
        axis=axis,
        unit_text=plain,
        values=None if values is None else tuple(float(v) for v in values),
        infusions=infusions,
        p_dlt=np.array(p, dtype=float),
        p_grade2=None if g2 is None else np.array(g2, dtype=float),
        events=events,
        band=None if band is None else band[0],
        band_level=None if band is None else band[1],
    )


def run_scenario(
    s: Scenario,
    *,
    jobs: int = 1,
    stage: Callable[[int, str, int | None], Callable[[int], None] | None] | None = None,
) -> ScenarioResult:
    """Run every engine of ``s`` in order with one seed (``s.run.seed``, or fresh entropy).

    ``stage(index, engine, trials)`` is called as each engine starts (``trials`` None for the exact
    engine) and may return a callback that receives the trials done so far (events engine).
    """
    from doseesc.build import run_engine

    seed = s.run.seed if s.run.seed is not None else int(np.random.SeedSequence().entropy)
    results: dict[str, Any] = {}
    curve_model = None
    models: dict[str, Any] = {}
    for i, engine in enumerate(s.run.engines):
        trials = s.run.trials_for(engine) if engine in SIMULATION_ENGINES else None
        progress = stage(i, engine, trials) if stage else None
        design, model = s.build(engine, models)
        curve_model = curve_model or model
        try:
            results[engine] = run_engine(
                engine,
                design,
                model,
                trials=trials or 1,
                seed=seed,
                jobs=jobs,
                conduct=s.build_conduct() if engine == "events" else None,
                courses=s.course_options() if engine == "courses" else None,
                progress=progress,
            )
        except SpecError as exc:
            raise ScenarioError(s.file, exc.render()) from None
    return ScenarioResult(s, seed, results, toxicity_curve(s, curve_model))


__all__ = [
    "DEFAULT_TRIALS",
    "RunSpec",
    "Scenario",
    "ScenarioError",
    "ScenarioResult",
    "ToxicityCurve",
    "load",
    "parse",
    "parse_data",
    "run_scenario",
    "summary",
]
