"""The figures the engine-agreement test compares, and how its reference file was made.

``tests/data/engine_reference.json`` holds, for every scenario file and each of its Monte Carlo and
calendar-time engines, the figures below with their standard errors as the engines of doseesc 0.1.0
gave them before issue 16 (one uniform per patient; an event per arrival), made with

    python tests/engine_agreement.py > tests/data/engine_reference.json

on that version.  The test runs today's engines on the same scenarios with another seed and asks
every figure to agree within 4 combined standard errors.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
TRIALS = {"mc": 50_000, "events": 1_000}
"""Trials per engine: enough for a few-percent SE on every figure, little enough for the suite."""


def figures(result) -> dict[str, tuple[list[float], list[float]]]:
    """Name -> (values, standard errors) of a Monte Carlo or events engine's result."""
    d = result.to_dict()
    out = {}
    for name in ("p_select", "mean_n", "mean_dlt", "p_none", "mean_total_n", "mean_total_dlt"):
        values, se = d[name], d[f"se_{name}"]
        out[name] = ([values] if isinstance(values, float) else values, [se] if isinstance(se, float) else se)
    if "duration_days" in d:
        out["duration_days"] = ([d["duration_days"]["mean"]], [d["duration_days"]["se"]])
        for name, c in d["counts"].items():
            out[f"counts.{name}"] = ([c["mean"]], [c["se"]])
    return out


def run(path: Path, seed: int) -> dict[str, dict]:
    """Each simulation engine of the scenario at ``path`` run with :data:`TRIALS` and ``seed``."""
    from doseesc.running import run_scenario
    from doseesc.scenario import load

    s = load(path)
    engines = tuple(e for e in s.run.engines if e in TRIALS)
    if not engines:
        return {}
    s = replace(s, run=replace(s.run, engines=engines, trials=tuple(TRIALS.items()), seed=seed))
    result = run_scenario(s)
    return {e: figures(result.oc(e)) for e in engines}


def main() -> None:
    reference = {p.name: run(p, 20261130) for p in sorted(SCENARIOS.glob("*.toml"))}
    json.dump({k: v for k, v in reference.items() if v}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
