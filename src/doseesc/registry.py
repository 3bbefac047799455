"""One registry of designs, toxicity models and engines, with their typed parameters.

Everything that names a design's settings is derived from here: the command line's options
(``--design NAME`` and one option per parameter, ``--max-n``), the keys of a scenario file's
``[design]`` table (``max_n``), the schema section of ``docs/scenarios.md`` (:func:`design_schema`)
and the validation messages (:meth:`Param.convert`).  Adding a design is its rule file plus one
:func:`register_design` call::

    register_design("toy", Toy, (Param("cohort_size", "int", 1, low=1, high=6, help="patients per cohort"),),
                    help="escalate on 0/1, stay on 1/1, stop on 2 DLTs at a dose")

``Toy(n_doses, **parameters)`` must return a :class:`~doseesc.designs.base.Design`.  Every design
also accepts the common parameters (:data:`COMMON`) unless registered with ``common=False``, and
every scenario the target (:data:`TARGET`), which the engines use for the metrics of
:mod:`doseesc.metrics`.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["bool", "int", "float", "probability", "interval", "str", "probabilities", "numbers"]


class ParamError(ValueError):
    """An invalid value for a parameter; the message says what is allowed, ``key`` (when known)
    which parameter, so that each caller names it its own way (``--max-n``, ``design.max_n``)."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Param:
    """A typed parameter: its scenario key ``name`` (the command-line option is ``--name`` with
    dashes), kind, default, allowed range or choices, and one line of help."""

    name: str
    kind: Kind
    default: Any = None
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""
    fixed: Any = None
    """A value the design always has: listed with the design (and reported with that value), but
    giving the parameter at all is an error, so that nobody believes it was their choice."""
    arg: str | None = None
    """The factory's keyword, when it differs from ``name`` (e.g. to avoid a clash with the command
    line's own options: BOIN's ``p_toxic`` is its ``p_tox``)."""

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    def allowed(self) -> str:
        """What the parameter accepts, in words (used in every message about it)."""
        if self.fixed is not None:
            return f"nothing (the design always has it: {_show(self.fixed)})"
        if self.kind == "bool":
            return "true or false"
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.kind == "interval":
            return "two probabilities [lo, hi] with lo <= target <= hi"
        if self.kind == "probability":
            return "a probability strictly between 0 and 1"
        if self.kind == "probabilities":
            return "a list of probabilities strictly between 0 and 1, one per dose"
        if self.kind == "numbers":
            return "a list of positive numbers, one per dose"
        word = "an integer" if self.kind == "int" else "a number"
        if self.low is not None and self.high is not None:
            return f"{word} from {_show(self.low)} to {_show(self.high)}"
        if self.low is not None:
            return f"{word} >= {_show(self.low)}"
        return word

    def convert(self, value: Any, *, text: bool = False) -> Any:
        """``value`` (from TOML, or with ``text`` a command-line string) as this parameter's type,
        or :class:`ParamError` saying what is allowed."""
        if self.fixed is not None:
            raise ParamError(f"cannot be set: the design always has it ({_show(self.fixed)}); leave it out")
        if text and isinstance(value, str) and self.kind != "str":
            value = _from_text(value, self.kind)
        ok, out = _CONVERT[self.kind](value, self)
        if not ok:
            raise ParamError(f"got {_show(value)}; allowed: {self.allowed()}")
        return out

    def describe(self) -> str:
        """One line for help texts and the schema: help, allowed values, default."""
        default = "" if self.default is None else f" (default {_show(self.default)})"
        return f"{self.help}; {self.allowed()}{default}"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value) if not isinstance(value, int | float | list | tuple) else str(value)


def _from_text(text: str, kind: str) -> Any:
    text = text.strip()
    if kind == "bool":
        return {"true": True, "false": False, "yes": True, "no": False}.get(text.lower(), text)
    if kind in ("interval", "probabilities", "numbers"):
        parts = [p for p in text.replace(" ", "").split(",") if p]
        try:
            return [float(p) for p in parts]
        except ValueError:
            return text
    try:
        return int(text) if kind == "int" else float(text)
    except ValueError:
        return text


def _bool(v: Any, p: Param) -> tuple[bool, Any]:
    return isinstance(v, bool), v


def _number(v: Any, p: Param) -> tuple[bool, Any]:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False, v
    if p.kind == "int" and not (isinstance(v, int) or float(v).is_integer()):
        return False, v
    v = int(v) if p.kind == "int" else float(v)
    if not math.isfinite(v):
        return False, v
    if p.kind == "probability" and not 0.0 < v < 1.0:
        return False, v
    in_range = (p.low is None or v >= p.low) and (p.high is None or v <= p.high)
    return in_range, v


def _interval(v: Any, p: Param) -> tuple[bool, Any]:
    if not isinstance(v, list | tuple) or len(v) != 2:
        return False, v
    ok = all(isinstance(x, int | float) and not isinstance(x, bool) and 0 <= x <= 1 for x in v)
    return ok and v[0] <= v[1], tuple(float(x) for x in v) if ok else v


def _list(v: Any, p: Param) -> tuple[bool, Any]:
    if not isinstance(v, list | tuple) or not v:
        return False, v
    ok = all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in v)
    ok = ok and all((0 < x < 1) if p.kind == "probabilities" else x > 0 for x in v)
    return ok, tuple(float(x) for x in v) if ok else v


def _str(v: Any, p: Param) -> tuple[bool, Any]:
    return isinstance(v, str) and (not p.choices or v in p.choices), v


_CONVERT: dict[str, Callable[[Any, Param], tuple[bool, Any]]] = {
    "bool": _bool,
    "int": _number,
    "float": _number,
    "probability": _number,
    "interval": _interval,
    "probabilities": _list,
    "numbers": _list,
    "str": _str,
}

COMMON = (
    Param("start_dose", "int", 0, low=0, help="index of the first cohort's dose (0 = lowest)"),
    Param(
        "max_n",
        "int",
        None,
        low=1,
        high=10_000,
        help="maximum patients per trial: the sample size N of boin, crm and blrm (default 30) and of the "
        "interval designs (required); no limit if left out for the others",
    ),
    Param(
        "stop_n_at_dose",
        "int",
        None,
        low=1,
        high=10_000,
        help="stop, selecting it, before a cohort whose dose already holds this many patients",
    ),
)
"""Parameters every design accepts (:class:`~doseesc.designs.common.CommonDesign`)."""

TARGET = (
    Param("target", "probability", None, help="target P(DLT) at the MTD, for the metrics against a target"),
    Param("target_band", "interval", None, help="acceptable band of P(DLT) around the target, [lo, hi]"),
)
"""The target and its band: not design parameters, but named with the design (``[design]``)."""


@dataclass(frozen=True)
class DesignEntry:
    """A registered design: ``factory(n_doses, **parameters)`` builds it."""

    name: str
    factory: Callable[..., Any]
    params: tuple[Param, ...]
    help: str = ""
    takes_target: bool = False
    """The rule itself uses the target (interval designs): the scenario's ``target`` is passed to
    the factory as ``target=`` (else the design's default applies, and its metrics use it)."""
    takes_doses: bool = False
    """The rule uses the dose values (model-based designs): the scenario's doses are passed to the
    factory as ``doses=`` (any one unit; only their ratios matter to the designs here)."""

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def build(
        self,
        n_doses: int,
        values: Mapping[str, Any] | None = None,
        target: float | None = None,
        doses: Sequence[float] | None = None,
    ) -> Any:
        """The design over ``n_doses`` levels with ``values`` (converted; defaults for the rest) and,
        for a design that ``takes_target``, the ``target``; for one that ``takes_doses``, the dose
        values (an error naming ``doses`` when there are none)."""
        values = dict(values or {})
        for key in values:
            if self.param(key) is None:
                allowed = ", ".join(p.name for p in self.params)
                raise ParamError(f"is not a parameter of design {self.name}; allowed: {allowed}", key)
        kwargs = {}
        for p in self.params:
            if p.name in values and values[p.name] is not None:
                try:
                    kwargs[p.arg or p.name] = p.convert(values[p.name])
                except ParamError as exc:
                    raise ParamError(str(exc), p.name) from None
            elif p.fixed is None and p.default is not None:
                kwargs[p.arg or p.name] = p.default
        if self.takes_target and target is not None:
            kwargs["target"] = target
        if self.takes_doses:
            if doses is None:
                raise ParamError(
                    f"is required by design {self.name} (its rule uses the dose values)", "doses"
                )
            kwargs["doses"] = tuple(float(d) for d in doses)
        return self.factory(n_doses, **kwargs)


@dataclass(frozen=True)
class Entry:
    """A registered toxicity model or engine: its name and help."""

    name: str
    help: str = ""
    simulates: bool = False
    """Engines: whether it simulates trials (takes a number of trials and a seed)."""


@dataclass
class Registry:
    designs: dict[str, DesignEntry] = field(default_factory=dict)
    models: dict[str, Entry] = field(default_factory=dict)
    engines: dict[str, Entry] = field(default_factory=dict)


REGISTRY = Registry()


def register_design(
    name: str,
    factory: Callable[..., Any],
    params: Sequence[Param] = (),
    *,
    help: str = "",
    common: bool = True,
    takes_target: bool = False,
    takes_doses: bool = False,
) -> DesignEntry:
    """Make ``factory`` available as design ``name`` to the command line, scenario files and sweeps.
    Registering a name again replaces the entry."""
    own = tuple(params)
    clash = {p.name for p in own} & {p.name for p in (*COMMON, *TARGET)} | ({"name"} & {p.name for p in own})
    if clash:
        raise ValueError(f"design {name}: parameter names {sorted(clash)} are reserved")
    entry = DesignEntry(name, factory, own + (COMMON if common else ()), help, takes_target, takes_doses)
    REGISTRY.designs[name] = entry
    return entry


def _builtin() -> None:
    import doseesc.designs.catalog  # noqa: F401  (registers the package's designs)


def design(name: str) -> DesignEntry:
    """The entry of design ``name``, or :class:`ParamError` with the nearest names."""
    _builtin()
    try:
        return REGISTRY.designs[name]
    except KeyError:
        raise ParamError(f'"{name}" is not a design{_did_you_mean(name, REGISTRY.designs)}') from None


def design_names() -> tuple[str, ...]:
    _builtin()
    return tuple(REGISTRY.designs)


def design_params() -> dict[str, Param]:
    """Every design parameter by name (the union over designs: one command-line option each)."""
    _builtin()
    out: dict[str, Param] = {}
    for entry in REGISTRY.designs.values():
        for p in entry.params:
            out.setdefault(p.name, p)
    return out


def nearest(word: str, allowed: Iterable[str], aliases: Mapping[str, str] | None = None) -> list[str]:
    """The allowed words ``word`` may have been meant to be, nearest first: its alias (a
    command-line name for a scenario key, say), then close spellings."""
    allowed = list(allowed)
    alias = (aliases or {}).get(word)
    near = [alias] if alias in allowed else []
    return near + [m for m in difflib.get_close_matches(word, allowed, n=3, cutoff=0.6) if m not in near]


def _did_you_mean(word: str, allowed: Iterable[str]) -> str:
    """``"; did you mean X?"`` for the nearest allowed word, then the allowed words."""
    allowed = list(allowed)
    near = nearest(word, allowed)
    return (f"; did you mean {near[0]}?" if near else "") + f" allowed: {', '.join(allowed)}"


def design_schema() -> str:
    """The ``[design]`` section of ``docs/scenarios.md``, generated from the registry."""
    _builtin()
    lines = [
        "| design | what it is | parameters |",
        "| --- | --- | --- |",
    ]
    for e in REGISTRY.designs.values():
        own = [p for p in e.params if p not in COMMON]
        params = ", ".join(f"`{p.name}`" for p in own) or "(the common ones only)"
        lines.append(f"| `{e.name}` | {e.help} | {params} |")
    lines += ["", "| key | allowed | what it does |", "| --- | --- | --- |"]
    lines.append(f"| `name` | one of {', '.join(f'`{n}`' for n in REGISTRY.designs)} | the design |")
    for p in (*design_params().values(), *TARGET):
        default = "" if p.default is None else f" (default {_show(p.default)})"
        lines.append(f"| `{p.name}` | {p.allowed()}{default} | {p.help} |")
    return "\n".join(lines)


def register_engine(name: str, help: str, *, simulates: bool) -> Entry:
    """Name an engine (its dispatch lives in :func:`doseesc.build.run_engine`)."""
    REGISTRY.engines[name] = entry = Entry(name, help, simulates)
    return entry


def register_model(name: str, help: str) -> Entry:
    """Name a toxicity model (its construction and its keys live in :func:`doseesc.build.make_model`
    and the scenario reader)."""
    REGISTRY.models[name] = entry = Entry(name, help)
    return entry


register_engine(
    "exact", "every cohort outcome enumerated with its probability (exact figures)", simulates=False
)
register_engine(
    "mc", "vectorized Monte Carlo, millions of trials per second, with standard errors", simulates=True
)
register_engine(
    "courses", "Monte Carlo over several courses per patient, intrapatient escalation", simulates=True
)
register_engine("events", "discrete-event simulation in calendar time (simpy)", simulates=True)
register_model("table", "one true P(DLT) per dose level (optionally grade-2 and grade-4 probabilities)")
register_model("latent", "Simon et al.'s (1997) latent toxicity model over courses")
register_model("logistic", "logistic P(DLT) in log dose with patient covariates")
register_model("halpc-bleeding", "the HALPC severe-bleeding model calibrated to the sentinel findings")
