"""A draft paragraph for a protocol's statistical section, generated from what the results record.

Nothing here is written per design: the design's sentence is its registry entry's description
(:attr:`doseesc.registry.DesignEntry.help`), its settings are the entry's parameters, each in the
words of its own help text with the value the design ran with, the toxicity model is its registry
entry's description, and the simulation settings (engines, trials, seed, calendar-time conduct)
come from the results.  A design added to the registry is described without code here.  Designs
with a boundary table (the interval designs) also get that table (:mod:`doseesc.rules`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from doseesc.metrics import Target
from doseesc.report.model import Arm, Report, Study


@dataclass(frozen=True)
class Boundaries:
    """A design's boundary table (escalate / de-escalate / eliminate by patients at a dose)."""

    design: str
    header: list[str]
    rows: list[list[Any]]


def _value(value: Any) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if value is None:
        return "not set"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _list(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def design_sentences(designs: Sequence[dict[str, Any]], n_doses: int) -> str:
    """What a design is and how it is set, from its registry entry; ``designs`` are its settings in
    the results (one design name; a parameter that varies is given with all its values)."""
    from doseesc import registry

    name = designs[0]["name"]
    try:
        entry = registry.design(name)
    except registry.ParamError:
        return f"Dose escalation follows the {name} design over {n_doses} dose levels."
    text = (
        f"Dose escalation follows {entry.help} (doseesc design \u201c{name}\u201d) "
        f"over {n_doses} dose levels."
    )
    settings = []
    for p in entry.params:
        values = list(
            dict.fromkeys(d.get(p.name, p.default if p.fixed is None else p.fixed) for d in designs)
        )
        if p.name == "max_n" and values == [None]:
            settings.append("no maximum sample size other than the rule's own stopping")
            continue
        if values == [None]:
            continue
        shown = [_value(v) for v in values]
        both = " or ".join([", ".join(shown[:-1]), shown[-1]]) if len(shown) > 1 else shown[0]
        settings.append(f"{p.help} ({p.name}): {both}")
    if settings:
        text += " Its settings are: " + "; ".join(settings) + "."
    return text


def boundaries(
    design: dict[str, Any], n_doses: int, doses: Sequence[float] | None = None
) -> Boundaries | None:
    """The design's boundary table, when its rule has one (built as the engines build the design,
    with the dose values ``doses`` for designs that use them)."""
    import numpy as np

    from doseesc import registry
    from doseesc.build import DesignSpec, make_design
    from doseesc.rules import decision_rows

    entry = registry.design(design["name"])
    params = tuple(
        (p.name, design[p.name]) for p in entry.params if design.get(p.name) is not None and p.fixed is None
    )
    values = None if doses is None else np.asarray(doses, dtype=float)
    built = make_design(DesignSpec(design["name"], params, design.get("target")), n_doses, values)
    if not hasattr(built, "boundaries"):
        return None
    header, rows = decision_rows(built, getattr(built, "max_n", None))
    cells = [["\N{EN DASH}" if v is None else str(v) for v in row] for row in rows]
    return Boundaries(design["name"], list(header), cells)


def _model_sentence(scenario: dict[str, Any]) -> str:
    from doseesc import registry

    tox = scenario["toxicity"]
    model = tox["model"]
    entry = registry.REGISTRY.models.get(model)
    words = entry.help if entry is not None else model
    text = f"the {model} toxicity model ({words})"
    if tox.get("posterior"):
        text += ", each simulated trial drawing its parameters from the calibration's posterior"
    return text


def _engine_sentence(arm: Arm) -> str:
    n = arm.n_trials
    if arm.engine == "exact":
        return (
            "exactly, by enumerating every sequence of cohort outcomes with its probability "
            "(no simulation error)"
        )
    se = 50 / n**0.5 if n else float("nan")
    text = f"from {n:,} simulated trials (standard error of a percentage at most {se:.1f} points)"
    if arm.engine == "events":
        conduct = arm.scenario.get("conduct") or {}
        settings = conduct.get("settings") or {}
        parts = []
        if conduct.get("accrual_per_month"):
            rate = sum(conduct["accrual_per_month"])
            parts.append(f"accrual of {rate:g} patient{'s' * (rate != 1)} per month")
        if "window_days" in settings:
            parts.append(f"a DLT window of {settings['window_days']:g} days")
        if settings.get("stagger_days"):
            parts.append(f"the first patient of a new dose observed {settings['stagger_days']:g} days alone")
        if conduct.get("disease"):
            parts.append("deaths and transplants competing with the DLT window")
        text = f"from {n:,} trials simulated in calendar time" + (f" ({_list(parts)})" if parts else "")
    if arm.engine == "courses":
        text = f"from {n:,} simulated trials over several courses per patient"
    return text


def _target_sentence(target: Target | None) -> str:
    if target is None:
        return ""
    band = ""
    if target.band is not None:
        band = (
            f"; doses with a true P(DLT) from {100 * target.band[0]:g}% to {100 * target.band[1]:g}% are "
            "acceptable, and selecting any of them counts as correct"
        )
    return (
        f" The true MTD is the dose whose true P(DLT) is closest to the target of {100 * target.value:g}%"
        f"{band}; when every dose is above the acceptable range, the correct decision is to select none."
    )


def paragraph(report: Report) -> list[str]:
    """The draft statistical-section text of ``report``: one paragraph per design (by name), then
    one for the simulation settings."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for arm in report.arms:
        by_name.setdefault(arm.design["name"], []).append(arm.design)
    n_doses = len(report.studies[0].labels)
    out = [design_sentences(designs, n_doses) for designs in by_name.values()]
    out.append(_settings(report))
    return out


def _settings(report: Report) -> str:
    studies: Sequence[Study] = report.studies
    first = studies[0].arms[0]
    how = []
    for engine in dict.fromkeys(a.engine for a in report.arms):
        arm = next(a for a in report.arms if a.engine == engine)
        how.append(_engine_sentence(arm))
    seeds = sorted({a.seed for a in report.arms if a.seed is not None})
    doses = studies[0].toxicity
    unit = doses.get("dose_unit") or ""
    dose_text = _list(doses["dose_labels"]) + (f" {unit}" if unit else "")
    scen = (
        f"{len(studies)} scenarios of the true dose-toxicity relationship"
        if len(studies) > 1
        else "one scenario"
    )
    text = (
        f"Operating characteristics were computed under {scen} (doses {dose_text}) with "
        f"{_model_sentence(first.scenario)}, {'; and '.join(how)}."
    )
    targets = {s.target for s in studies}
    if len(targets) == 1:
        text += _target_sentence(next(iter(targets)))
    text += (
        " For each scenario the tables give the percentage of trials selecting each dose as the MTD, "
        "the mean numbers of patients and DLTs per dose, the percentage of trials selecting no dose and "
        "the distribution of the sample size"
        + (", and the percentage of correct selection" if any(s.target for s in studies) else "")
        + "."
    )
    if seeds and any(a.n_trials for a in report.arms):
        text += (
            f" Simulations used doseesc {report.version} with seed {', '.join(map(str, seeds))}, "
            "so that every figure can be reproduced exactly."
        )
    else:
        text += f" Computations used doseesc {report.version}; exact figures need no seed."
    return text


__all__ = ["Boundaries", "boundaries", "design_sentences", "paragraph"]
