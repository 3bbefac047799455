"""Issue 16 changed how the Monte Carlo engine draws (one uniform per cohort, from the cohort's exact
outcome distribution) and how the events engine meets arrivals: what is simulated must not change.
Every scenario file, run on today's engines, agrees with the figures the engines gave before the
change (``tests/data/engine_reference.json``, see ``tests/engine_agreement.py``) within 4 combined
standard errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from engine_agreement import SCENARIOS, run

REFERENCE = json.loads((Path(__file__).parent / "data" / "engine_reference.json").read_text())
Z = 4.0


def test_the_reference_covers_the_scenario_files_of_its_time():
    """Every scenario file with a simulation engine at the time of the reference is in it and still
    exists (files added since, e.g. with designs the engines of then did not have, are not)."""
    assert len(REFERENCE) == 10
    for name, engines in REFERENCE.items():
        assert (SCENARIOS / name).exists(), name
        assert set(engines) <= {"mc", "events"} and engines


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_engines_agree_with_the_engines_before_issue_16(name, tmp_path, monkeypatch):
    monkeypatch.setenv("DOSEESC_CACHE_DIR", str(tmp_path))
    new = run(SCENARIOS / name, seed=7)
    failures = []
    for engine, figures in REFERENCE[name].items():
        for figure, (old_values, old_se) in figures.items():
            new_values, new_se = new[engine][figure]
            for i, (a, sa, b, sb) in enumerate(zip(old_values, old_se, new_values, new_se, strict=True)):
                se = math.hypot(sa, sb)
                if abs(a - b) > Z * se + 1e-12:
                    failures.append(f"{engine} {figure}[{i}]: before {a:.5g}, now {b:.5g} (SE {se:.2g})")
    assert not failures, "\n".join(failures)
