"""What a report shows, read from a ``doseesc run``, ``compare`` or ``sweep`` folder.

A report is a list of :class:`Study` (one true dose-toxicity scenario each: one table), each with
its :class:`Arm` (a design under one engine: one group of columns).  Everything is read from the
folders' JSON forms (``results.json``, ``comparison.json``, ``sweep.json``), whose key names are a
stable interface (:meth:`doseesc.results.OperatingCharacteristics.to_dict`), so a design added to
the registry appears in reports without code here.

* ``run``: one study, one arm per engine of the scenario.
* ``compare``: scenarios with the same doses and true curve are one study, one arm per scenario.
* ``sweep``: combinations are grouped by scenario name (a ``[[scenarios]]`` name, a scenario file,
  or the position on a ``toxicity`` axis) and target; the other axes (design name, sample size ...)
  make the arms.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from doseesc.metrics import Target
from doseesc.presentation import engine_words

KINDS = {"results.json": "run", "comparison.json": "compare", "sweep.json": "sweep"}
"""The file that marks each kind of results folder."""


class ReportError(ValueError):
    """A folder that cannot be reported on: one line naming it and what is expected."""


@dataclass(frozen=True)
class Arm:
    """A design under one engine: its label (column heading), engine, the design's settings (name,
    parameters, target), the engine's result (JSON form), the scenario's settings, the seed and,
    for the calendar-time engine of a run, each simulated trial's duration in days."""

    label: str
    engine: str
    design: dict[str, Any]
    result: dict[str, Any]
    scenario: dict[str, Any]
    seed: int | None = None
    durations: np.ndarray | None = None

    @property
    def engine_text(self) -> str:
        disease = (self.scenario.get("conduct") or {}).get("disease")
        return engine_words(self.engine, competing_risks=self.engine == "events" and bool(disease))

    @property
    def n_trials(self) -> int | None:
        return self.result.get("n_trials")

    @property
    def events(self) -> dict[str, dict[str, Any]]:
        return self.result.get("events") or {}


@dataclass(frozen=True)
class Study:
    """One true dose-toxicity scenario: its name and title, the doses and true curve (the JSON form
    of :class:`doseesc.running.ToxicityCurve`), the target of the metrics (None: no target given),
    and the arms."""

    name: str
    title: str
    toxicity: dict[str, Any]
    arms: tuple[Arm, ...]
    target: Target | None = None

    @property
    def labels(self) -> list[str]:
        return list(self.toxicity["dose_labels"])

    @property
    def p_dlt(self) -> np.ndarray:
        return np.asarray(self.toxicity["p_dlt"], dtype=float)

    @property
    def true_mtd(self) -> int | None:
        return None if self.target is None else self.target.acceptable(self.p_dlt)[0]

    @property
    def event_names(self) -> list[str]:
        return list(dict.fromkeys(name for arm in self.arms for name in arm.events))

    @property
    def dose_axis(self) -> str:
        """The dose axis in plain text, with the unit and the regimen."""
        unit = self.toxicity.get("dose_unit") or ""
        axis = f"dose ({unit})" if unit else "dose level"
        infusions = self.toxicity.get("infusions") or [1]
        if len(set(infusions)) == 1 and infusions[0] > 1:
            interval = (self.arms[0].scenario.get("regimen") or {}).get("interval_days")
            apart = f" {interval:g} days apart" if interval else ""
            axis += f" per infusion, {infusions[0]} infusions{apart}"
        return axis


@dataclass(frozen=True)
class Report:
    """Everything a report shows: the folder's kind, its name, the doseesc version that wrote it,
    the studies, images to embed as they are (``stem``: path) and, for a sweep, its axes."""

    kind: str
    folder: Path
    name: str
    version: str
    studies: tuple[Study, ...]
    images: dict[str, Path] = field(default_factory=dict)
    axes: tuple[str, ...] = ()

    @property
    def arms(self) -> list[Arm]:
        return [a for s in self.studies for a in s.arms]


def read_report(
    folder: str | Path, *, target: float | None = None, band: Sequence[float] | None = None
) -> Report:
    """The :class:`Report` of a results folder; ``target`` (and its ``band``) replace the target
    the designs were run with, for the true MTD and the metrics (:class:`ReportError` when the
    folder is not a results folder)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReportError(f"{folder}: not a folder; allowed: a doseesc run, compare or sweep results folder")
    file = next((folder / name for name in KINDS if (folder / name).is_file()), None)
    if file is None:
        raise ReportError(
            f"{folder}: holds none of {', '.join(KINDS)}; "
            "allowed: a doseesc run, compare or sweep results folder"
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportError(f"{file}: cannot be read as doseesc results ({exc})") from None
    override = None
    if target is not None:
        try:
            override = Target(target, None if band is None else (band[0], band[1]))
        except ValueError as exc:
            raise ReportError(f"--target-band: {exc}") from None
    kind = KINDS[file.name]
    try:
        if kind == "run":
            return _run_report(folder, data, override)
        if kind == "compare":
            return _compare_report(folder, data, override)
        return _sweep_report(folder, data, override)
    except (KeyError, TypeError, IndexError) as exc:
        raise ReportError(f"{file}: not in the form doseesc writes (missing {exc})") from None


def design_label(design: dict[str, Any]) -> str:
    """A design as a column heading: its name and the parameters that differ from the registry's
    defaults ("3+3, deescalate", "boin, max_n=24"), generated from the registry entry."""
    from doseesc import registry

    name = design["name"]
    try:
        params = registry.design(name).params
    except registry.ParamError:
        params = ()
    parts = []
    for p in params:
        value = design.get(p.name, p.default)
        if p.fixed is not None or value == p.default or value is None:
            continue
        parts.append(p.name if value is True else f"{p.name}={_show(value)}")
    return ", ".join([name, *parts])


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


def _target_of(design: dict[str, Any], override: Target | None) -> Target | None:
    if override is not None:
        return override
    if design.get("target") is None:
        return None
    band = design.get("target_band")
    return Target(design["target"], None if band is None else tuple(band))


def _durations(folder: Path) -> np.ndarray | None:
    path = folder / "durations.csv"
    if not path.is_file():
        return None
    with path.open(newline="", encoding="utf-8") as f:
        # An empty cell is a trial whose duration is undefined (written so by doseesc.output.write_csv).
        values = np.array([float(row["duration_days"] or "nan") for row in csv.DictReader(f)])
    return values[np.isfinite(values)]


def _run_report(folder: Path, data: dict[str, Any], override: Target | None) -> Report:
    scenario = data["scenario"]
    design = scenario["design"]
    durations = _durations(folder)
    arms = tuple(
        Arm(
            label="",
            engine=engine,
            design=design,
            result=result,
            scenario=scenario,
            seed=data.get("seed"),
            durations=durations if engine == "events" else None,
        )
        for engine, result in data["engines"].items()
    )
    arms = tuple(_relabel(a, a.engine_text) for a in arms)
    title = scenario.get("title") or scenario["name"]
    study = Study(scenario["name"], title, data["toxicity"], arms, _target_of(design, override))
    images = {stem: folder / f"{stem}.png" for stem in ("timeline",) if (folder / f"{stem}.png").is_file()}
    return Report("run", folder, scenario["name"], data.get("version", ""), (study,), images)


def _relabel(arm: Arm, label: str) -> Arm:
    return Arm(label, arm.engine, arm.design, arm.result, arm.scenario, arm.seed, arm.durations)


def _compare_report(folder: Path, data: dict[str, Any], override: Target | None) -> Report:
    groups: dict[tuple, list[tuple[dict, Arm]]] = {}
    for run in data["scenarios"]:
        scenario = run["scenario"]
        engine, result = next(iter(run["engines"].items()))
        design = scenario["design"]
        arm = Arm("", engine, design, result, scenario, run.get("seed"))
        target = _target_of(design, override)
        key = (*_curve_key(run["toxicity"]), None if target is None else (target.value, target.band))
        groups.setdefault(key, []).append((run, arm))
    studies = []
    for k, members in enumerate(groups.values(), 1):
        arms = _arm_labels([a for _, a in members], [r["scenario"]["name"] for r, _ in members])
        first = members[0][0]
        name = "comparison" if len(groups) == 1 else f"curve {k}"
        title = f"scenarios {', '.join(r['scenario']['name'] for r, _ in members)}"
        studies.append(Study(name, title, first["toxicity"], arms, _target_of(arms[0].design, override)))
    return Report("compare", folder, "comparison", data.get("version", ""), tuple(studies))


def _curve_key(toxicity: dict[str, Any]) -> tuple:
    return (tuple(toxicity["dose_labels"]), tuple(round(float(p), 12) for p in toxicity["p_dlt"]))


def _arm_labels(arms: Sequence[Arm], names: Sequence[str]) -> tuple[Arm, ...]:
    """Column headings of arms that share a table: the design, the engine when they differ, the
    scenario's name when that still leaves two alike."""
    engines = {a.engine for a in arms}
    labels = [design_label(a.design) + (f" ({a.engine_text})" if len(engines) > 1 else "") for a in arms]
    labels = [
        lab if labels.count(lab) == 1 else f"{lab} [{name}]" for lab, name in zip(labels, names, strict=True)
    ]
    return tuple(_relabel(a, lab) for a, lab in zip(arms, labels, strict=True))


def _sweep_report(folder: Path, data: dict[str, Any], override: Target | None) -> Report:
    axes = tuple(data.get("axes", ()))
    groups: dict[tuple, list[tuple[dict, Arm]]] = {}
    for combo in data["combinations"]:
        if combo.get("status") != "complete" or "results" not in combo:
            continue
        params = combo["params"]
        scenario = combo["settings"]
        design = scenario["design"]
        target = _target_of(design, override)
        study_name = str(params.get("scenario", scenario["name"]))
        curve = _curve_key(combo["toxicity"])
        key = (study_name, curve, None if target is None else (target.value, target.band))
        for engine, result in combo["results"].items():
            groups.setdefault(key, []).append(
                (combo, Arm("", engine, design, result, scenario, data.get("seed")))
            )
    names = [k[0] for k in groups]
    studies = []
    for key, members in groups.items():
        study_name = key[0]
        if names.count(study_name) > 1:  # one name over several curves or targets: number them
            study_name = f"{study_name} ({names[: len(studies) + 1].count(key[0])})"
        arms = [a for _, a in members]
        engines = {a.engine for a in arms}
        # The axes that tell this study's arms apart (not the scenario's own, nor one-value axes).
        telling = [
            axis
            for axis in axes
            if axis != "scenario"
            and not axis.startswith("toxicity.")
            and len({json.dumps(c["params"].get(axis)) for c, _ in members}) > 1
        ]
        labels = []
        for combo, arm in members:
            params = combo["params"]
            varied = [_axis_text(axis, params[axis]) for axis in telling if params.get(axis) is not None]
            if "design.name" not in telling:
                varied.insert(0, arm.design["name"])
            text = ", ".join(varied) or design_label(arm.design)
            labels.append(text + (f" ({arm.engine_text})" if len(engines) > 1 else ""))
        first = members[0][0]
        own = first["params"].get("scenario") == first["settings"]["name"]  # not a [[scenarios]] name
        title = (first["settings"].get("title") if own else None) or study_name
        studies.append(
            Study(
                study_name,
                title,
                first["toxicity"],
                tuple(_relabel(a, lab) for a, lab in zip(arms, labels, strict=True)),
                _target_of(arms[0].design, override),
            )
        )
    if not studies:
        raise ReportError(f"{folder}: the sweep has no complete combination to report")
    return Report(
        "sweep", folder, data.get("sweep", folder.name), data.get("version", ""), tuple(studies), axes=axes
    )


def _axis_text(axis: str, value: Any) -> str:
    short = axis.rsplit(".", 1)[-1]
    if axis == "design.name":
        return str(value)
    if short == "max_n":
        return f"N = {value}"
    return f"{short} = {_show(value)}"


__all__ = ["Arm", "Report", "ReportError", "Study", "design_label", "read_report"]
