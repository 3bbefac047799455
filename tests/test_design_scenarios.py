"""The design-comparison scenario files (BOIN on the textbook curve; 3+3, BOIN and i3+3 on the HALPC
model) validate, and textbook_boin.toml runs exactly what the Python API's BOIN runs."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest

from doseesc.build import DesignSpec, HalpcSpec, TableSpec
from doseesc.designs.boin import BOIN
from doseesc.designs.interval import I3plus3
from doseesc.engines import exact
from doseesc.running import run_scenario
from doseesc.scenario import ScenarioWarning, load

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
FILES = [
    "textbook_boin.toml",
    "halpc_designs_3p3.toml",
    "halpc_designs_boin.toml",
    "halpc_designs_i3p3.toml",
]
TEXTBOOK_CURVE = (0.05, 0.10, 0.20, 0.30, 0.50, 0.70)


@pytest.mark.parametrize("name", FILES)
def test_scenario_file_validates_without_warnings(name: str):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScenarioWarning)
        s = load(SCENARIOS / name)
    assert s.name == Path(name).stem
    design, _ = s.build(s.run.engines[0])
    assert design.n_doses == s.n_doses


def test_textbook_boin_uses_the_textbook_3p3_curve():
    boin, three = load(SCENARIOS / "textbook_boin.toml"), load(SCENARIOS / "textbook_3p3.toml")
    assert isinstance(boin.toxicity, TableSpec)
    assert boin.toxicity.p_dlt == three.toxicity.p_dlt == TEXTBOOK_CURVE
    assert boin.run.engines == ("exact", "mc")


def test_halpc_design_files_differ_only_in_the_design():
    loaded = {name: load(SCENARIOS / name) for name in FILES[1:]}
    blank = DesignSpec("3+3")
    bare = [
        dataclasses.replace(s, design=blank, name="", title="", description="", file="", text="")
        for s in loaded.values()
    ]
    assert all(b == bare[0] for b in bare)
    first = next(iter(loaded.values()))
    assert first.toxicity == HalpcSpec(posterior=True) and first.run.engines == ("mc",)
    assert {s.design.name for s in loaded.values()} == {"3+3", "boin", "i3+3"}
    assert {s.design.target for s in loaded.values()} == {0.25}
    boin, i33 = (loaded[f].build("mc")[0] for f in ("halpc_designs_boin.toml", "halpc_designs_i3p3.toml"))
    assert boin == BOIN(5, target=0.25, cohort_size=3, max_n=24)
    assert i33 == I3plus3(5, target=0.25, cohort_size=3, eps1=0.05, eps2=0.05, cutoff_eli=0.95, max_n=24)


def test_textbook_boin_exact_run_reproduces_the_python_api():
    s = load(SCENARIOS / "textbook_boin.toml")
    s = dataclasses.replace(s, run=dataclasses.replace(s.run, engines=("exact",)))
    got = run_scenario(s).oc("exact")
    want = exact(BOIN(6, target=0.3, cohort_size=3, max_n=30), np.array(TEXTBOOK_CURVE))
    np.testing.assert_array_equal(got.p_select, want.p_select)
    assert got.p_none == want.p_none
    np.testing.assert_array_equal(got.mean_n, want.mean_n)
    np.testing.assert_array_equal(got.mean_dlt, want.mean_dlt)
    assert got.metrics == want.metrics
    assert got.metrics["target"] == 0.3 and got.metrics["true_mtd"] == 3
