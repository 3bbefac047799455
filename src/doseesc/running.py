"""Running a scenario: every engine it names with one seed, and the toxicity curve its model gives.

Kept apart from reading and validating (:mod:`doseesc.scenario`, which re-exports these names): a
run's outputs (:class:`ScenarioResult`, :class:`ToxicityCurve`) are what the writers of tables and
figures (:mod:`doseesc.output`) work from, and they change for other reasons than the file format.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from doseesc.build import SIMULATION_ENGINES, SpecError
from doseesc.scenario_errors import ScenarioError

if TYPE_CHECKING:
    from doseesc.scenario import Scenario


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
    models: dict[str, Any] = field(default_factory=dict)
    """Each engine's toxicity model (what its text output may name, e.g. grade 4 only if possible)."""

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
    band = calibration_band(s.toxicity, s.doses, s.regimen, s.population)
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
    common_random_numbers: bool = False,
) -> ScenarioResult:
    """Run every engine of ``s`` in order with one seed (``s.run.seed``, or fresh entropy).

    ``stage(index, engine, trials)`` is called as each engine starts (``trials`` None for the exact
    engine) and may return a callback that receives the trials done so far (events engine).
    ``common_random_numbers``: the Monte Carlo engine gives the k-th patient of each trial the same
    uniform whatever the design (:func:`doseesc.engines.simulate`), as ``doseesc compare`` asks.
    """
    from doseesc.build import make_conduct, run_engine

    seed = s.run.seed if s.run.seed is not None else int(np.random.SeedSequence().entropy)
    results: dict[str, Any] = {}
    engine_models: dict[str, Any] = {}
    curve_model = None
    models: dict[str, Any] = {}
    for i, engine in enumerate(s.run.engines):
        trials = s.run.trials_for(engine) if engine in SIMULATION_ENGINES else None
        progress = stage(i, engine, trials) if stage else None
        design, model = s.build(engine, models)
        curve_model = curve_model or model
        engine_models[engine] = model
        try:
            # The design's own conduct (e.g. nct05727722's 60-day window) unless the file overrides it.
            conduct = None
            if engine == "events" and s.conduct is not None:
                conduct = make_conduct(s.conduct, s.regimen, design)
            results[engine] = run_engine(
                engine,
                design,
                model,
                trials=trials or 1,
                seed=seed,
                jobs=jobs,
                conduct=conduct,
                courses=s.engine_courses(engine),
                target=s.design.target_spec(),
                progress=progress,
                common_random_numbers=common_random_numbers,
            )
        except SpecError as exc:
            raise ScenarioError(s.file, exc.render()) from None
    return ScenarioResult(s, seed, results, toxicity_curve(s, curve_model), engine_models)


__all__ = ["ScenarioResult", "ToxicityCurve", "run_scenario", "toxicity_curve"]
