"""Design presets carry their conduct, and design errors name their option.

* The nct05727722 design brings the registry record's 60-day DLT window to the events engine unless
  the conduct overrides it.  Checked on a trial whose course is certain (no toxicity, patients
  always waiting): the accelerated phase treats the four levels one patient at a time, the top is
  topped up to 3 and expanded to 6, each of those six cohorts is decided at the end of its window,
  so a trial lasts exactly 6 windows after the first arrival (regular accrual: one month / rate).
* Every design parameter given out of range is reported under its own key, and a dose count a
  design cannot take under ``design.name``, saying that the number of dose levels is at fault.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from doseesc import registry
from doseesc.build import (
    ConductSpec,
    DesignSpec,
    RegimenSpec,
    SpecError,
    make_conduct,
    make_design,
    run_engine,
)
from doseesc.cli import main
from doseesc.conduct import DAYS_PER_MONTH
from doseesc.designs.titration import AcceleratedTitration
from doseesc.engines import exact
from doseesc.models import DoseToxicityTable
from doseesc.scenario import load, run_scenario

RATE = 30.0  # patients per month, one site, regular: the first arrives after DAYS_PER_MONTH / 30 days
QUIET = DoseToxicityTable(np.zeros(4), np.zeros(4))


def certain_duration(window: float) -> float:
    """Days from the start to the decision of a nct05727722 trial without toxicity (module docstring)."""
    return 6 * window + DAYS_PER_MONTH / RATE


def conduct_for(design_name: str, *settings: tuple[str, object], preset: str | None = None):
    spec = ConductSpec((RATE,), preset, (("accrual", "regular"), *settings))
    return make_conduct(spec, RegimenSpec(), make_design(DesignSpec(design_name), 4))


def test_the_nct05727722_design_brings_its_60_day_window_unless_overridden():
    assert conduct_for("nct05727722").window_days == 60.0
    assert conduct_for("nct05727722", ("window_days", 28.0)).window_days == 28.0
    assert conduct_for("nct05727722", preset="halpc").window_days == 28.0  # an explicit preset wins
    assert conduct_for("3+3").window_days == 28.0  # the Conduct default: designs without a preset
    assert conduct_for("nct05727722").infusions == 1


@pytest.mark.parametrize(("settings", "window"), [((), 60.0), ((("window_days", 28.0),), 28.0)])
def test_the_events_engine_runs_the_design_window(settings, window):
    design = make_design(DesignSpec("nct05727722"), 4)
    result = run_engine(
        "events", design, QUIET, trials=20, seed=1, conduct=conduct_for("nct05727722", *settings)
    )
    assert result.conduct.window_days == window
    np.testing.assert_array_equal(result.oc.mean_n, [1, 1, 1, 6])
    assert result.duration.mean == pytest.approx(certain_duration(window), rel=1e-12)
    assert result.duration.sd == pytest.approx(0.0, abs=1e-9)


SCENARIO = """
[scenario]
name = "nct_window"
[design]
name = "nct05727722"
[toxicity]
model = "table"
p_dlt = [0.0, 0.0, 0.0, 0.0]
p_grade2 = [0.0, 0.0, 0.0, 0.0]
[conduct]
accrual_per_month = 30.0
accrual = "regular"
{window}
[run]
engines = ["events"]
trials = 20
seed = 1
"""


@pytest.mark.parametrize(("line", "window"), [("", 60.0), ("window_days = 28.0", 28.0)])
def test_a_scenario_runs_the_design_window_unless_it_sets_one(tmp_path: Path, line, window):
    path = tmp_path / "nct_window.toml"
    path.write_text(SCENARIO.format(window=line))
    res = run_scenario(load(path))
    events = res.results["events"]
    assert events.conduct.window_days == window
    assert events.duration.mean == pytest.approx(certain_duration(window), rel=1e-12)


def test_atd3_runs_on_two_doses_with_its_step_capped_at_the_top(capsys):
    """Over two levels design 3's 100% step from level 1 lands on the top, as design 2's does: the
    same rule, number for number."""
    p, g2 = np.array([0.1, 0.3]), np.array([0.2, 0.2])
    a, b = exact(AcceleratedTitration.simon(3, 2), p, g2), exact(AcceleratedTitration.simon(2, 2), p, g2)
    np.testing.assert_array_equal(a.p_select, b.p_select)
    np.testing.assert_array_equal(a.mean_n, b.mean_n)
    args = ["simulate", "--design", "atd3", "--p-tox", "0.1,0.3", "--p-grade2", "0.2,0.2", "--json"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["p_select"] == a.p_select.tolist()


def test_a_dose_count_the_design_cannot_take_names_the_design(capsys):
    with pytest.raises(SpecError) as err:
        make_design(DesignSpec("3+3"), 61)
    assert err.value.key == "design.name"
    assert "3+3: the number of dose levels must be an integer from 1 to 60, got 61" in str(err.value)
    p_tox = ",".join(["0.1"] * 61)
    with pytest.raises(SystemExit) as stop:
        main(["simulate", "--design", "3+3", "--p-tox", p_tox])
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        "doseesc: error: --design 3+3: the number of dose levels must be an integer from 1 to 60, got 61\n"
    )


def bad_value(p: registry.Param):
    """A value outside what ``p`` allows."""
    if p.fixed is not None:
        return not p.fixed
    if p.kind == "bool":
        return "sometimes"
    if p.kind == "interval":
        return [0.9, 0.1]
    if p.kind == "probability":
        return 1.5
    if p.kind == "str":
        return "no such choice"
    if p.high is not None:
        return p.high + 1
    return p.low - 1


def every_design_parameter():
    for name in registry.design_names():
        for p in registry.design(name).params:
            if (
                p.kind in ("bool", "str", "interval", "probability")
                or p.low is not None
                or p.high is not None
            ):
                yield name, p


@pytest.mark.parametrize(
    ("design", "param"), list(every_design_parameter()), ids=lambda v: getattr(v, "name", v)
)
def test_every_design_parameter_error_names_its_key(design, param):
    with pytest.raises(SpecError) as err:
        make_design(DesignSpec(design, ((param.name, bad_value(param)),), target=0.25), 6)
    assert err.value.key == f"design.{param.name}", str(err.value)


@pytest.mark.parametrize("option", ["--deescalate", "--expand-top"])
def test_an_option_the_design_fixes_is_refused_naming_it(capsys, option):
    args = ["simulate", "--design", "nct05727722", "--p-tox", "0.1,0.2,0.3,0.4", "--p-grade2", "0,0,0,0"]
    with pytest.raises(SystemExit) as stop:
        main([*args, option])
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        f"doseesc: error: {option} cannot be set: the design always has it (true); leave it out\n"
    )


def test_a_scenario_setting_a_fixed_option_is_refused(tmp_path: Path, capsys):
    path = tmp_path / "nct_window.toml"
    path.write_text(
        SCENARIO.format(window="").replace('name = "nct05727722"', 'name = "nct05727722"\ndeescalate = true')
    )
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "design.deescalate: cannot be set" in err


@pytest.mark.parametrize(("extra", "window"), [((), 60.0), (("--window-days", "28"), 28.0)])
def test_the_command_line_runs_the_design_window(capsys, extra, window):
    args = ["simulate", "--design", "nct05727722", "--p-tox", "0,0,0,0", "--p-grade2", "0,0,0,0"]
    args += ["--engine", "events", "--accrual-per-month", "30", "--accrual", "regular", "--trials", "20"]
    assert main([*args, "--seed", "1", *extra, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["conduct"]["window_days"] == window
    assert out["duration_days"]["mean"] == pytest.approx(certain_duration(window), rel=1e-12)


def test_simon_literal_is_a_named_option_of_designs_2_to_4(capsys):
    args = ["simulate", "--design", "atd3", "--p-tox", "0,0,1,1,1", "--p-grade2", "0,0,0,0,0", "--json"]
    assert main(args) == 0
    default = json.loads(capsys.readouterr().out)
    assert main([*args, "--simon-literal"]) == 0
    literal = json.loads(capsys.readouterr().out)
    assert default["p_select"] == literal["p_select"] == [0, 1, 0, 0, 0]
    assert default["mean_n"] == [1, 3, 3, 0, 0] and literal["mean_n"] == [1, 0, 3, 0, 0]
    with pytest.raises(SpecError, match="not a parameter of design atd1"):
        make_design(DesignSpec("atd1", (("simon_literal", True),)), 5)
