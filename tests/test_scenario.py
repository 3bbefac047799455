"""Scenario files: parsing into frozen settings; errors, all at once and one line each, naming file,
key and what is allowed; suggestions for misspelt names; warnings for doubtful settings."""

from __future__ import annotations

import copy
import dataclasses
import re
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from doseesc.build import RegimenSpec, TableSpec, make_model
from doseesc.cli import main
from doseesc.models.regimens import LevelRegimens
from doseesc.scenario import ScenarioError, ScenarioWarning, load, parse, parse_data

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))

TABLE = """
[design]
name = "3+3"

[toxicity]
model = "table"
p_dlt = [0.05, 0.1, 0.2, 0.3]

[run]
engines = ["exact", "mc"]
"""

HALPC = """
[design]
name = "3+3"

[doses]
unit = "1e6cells/kg"
values = [0.3, 0.6, 1.2]

[toxicity]
model = "halpc-bleeding"

[run]
engines = ["exact"]
"""


def write(tmp_path: Path, text: str, name: str = "broken.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_scenarios_folder_holds_the_source_documents_trials():
    names = {p.stem for p in SCENARIOS}
    assert {"halpc_sentinel", "halpc_amended", "halpc_3p3_redesign", "nct05727722"} <= names
    assert any(n.startswith("textbook_3p3") for n in names)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_scenario_file_validates(path, capsys):
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"ok: {path.stem}:")


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_number_in_a_scenario_file_has_a_comment_nearby(path):
    """Each key with a number is commented on its line or in the comment block just above it."""
    lines = path.read_text().splitlines()
    in_text = False
    for i, line in enumerate(lines):
        if line.count('"""') == 1:
            in_text = not in_text
            continue
        if in_text or "=" not in line or line.lstrip().startswith("#"):
            continue
        if not re.search(r"\d", line.split("=", 1)[1]):
            continue
        if line.split("=", 1)[0].strip() in ("name", "title"):
            continue
        above = [ln for ln in lines[max(0, i - 8) : i] if ln.strip()]
        commented = "#" in line or any(ln.lstrip().startswith("#") for ln in above[-3:])
        assert commented, f"{path.name}:{i + 1}: {line!r} has no source comment"


def test_scenarios_parse_into_frozen_settings():
    s = load(ROOT / "scenarios" / "nct05727722.toml")
    assert s.design.name == "nct05727722" and s.doses.unit == "1e9cells"
    assert s.doses.values == (0.15, 0.5, 1.5, 4.5)
    assert s.conduct.settings and dict(s.conduct.settings)["window_days"] == 60.0
    assert s.run.engines == ("exact", "mc", "events")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.toxicity.p_dlt = (0.5,)  # type: ignore[misc]


def test_overrides_and_defaults():
    s = parse(TABLE, "t.toml", default_name="t")
    assert s.name == "t" and s.run.seed is None and s.run.trials_for("mc") == 100_000
    s2 = s.with_run(trials=50, seed=9)
    assert s2.run.trials_for("mc") == 50 and s2.run.trials_for("events") == 50 and s2.run.seed == 9
    assert s.run.trials_for("mc") == 100_000  # unchanged


BROKEN = [
    # (what is broken, replacement of TABLE's text, key named, what is allowed)
    ("missing key", ('name = "3+3"\n', ""), "design.name", "missing"),
    ("wrong type", ("p_dlt = [0.05, 0.1, 0.2, 0.3]", 'p_dlt = "0.05,0.1"'), "toxicity.p_dlt", "list of"),
    (
        "wrong item type",
        ("p_dlt = [0.05, 0.1, 0.2, 0.3]", 'p_dlt = [0.05, "x"]'),
        "toxicity.p_dlt[1]",
        "[0, 1]",
    ),
    ("probability out of range", ("0.3]", "1.3]"), "toxicity.p_dlt[3]", "probability in [0, 1]"),
    ("unknown design", ('name = "3+3"', 'name = "tpi"'), "design.name", "3+3, 2+2, 4+4, a+b, atd1"),
    (
        "unknown engine",
        ('["exact", "mc"]', '["exact", "bayes"]'),
        "run.engines[1]",
        "exact, mc, courses, events",
    ),
    ("unknown key", ("[run]\n", "[run]\ntrails = 5\n"), "run.trails", "engines, trials, seed"),
    ("unknown section", ("[run]\n", "[runs]\nx = 1\n[run]\n"), "runs", "scenario, design"),
    ("negative seed", ("[run]\n", "[run]\nseed = -1\n"), "run.seed", "whole number >= 0"),
    ("conduct without events", ("[run]\n", "[conduct]\naccrual_per_month = 1\n[run]\n"), "conduct", "events"),
    (
        "grade 2 needed",
        ('name = "3+3"', 'name = "atd2"'),
        "toxicity.p_grade2",
        "required",
    ),
]


@pytest.mark.parametrize(("case", "change", "key", "allowed"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_scenario_is_one_line_exit_2(tmp_path, capsys, case, change, key, allowed):
    assert change[0] in TABLE
    path = write(tmp_path, TABLE.replace(*change))
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(f"doseesc: error: {path}: ")
    assert key in err and allowed in err, err


HALPC_BROKEN = [
    ("doses not increasing", ("[0.3, 0.6, 1.2]", "[0.3, 1.2, 0.6]"), "doses.values", "increasing"),
    ("dose not positive", ("[0.3, 0.6, 1.2]", "[0.3, 0, 1.2]"), "doses.values[1]", "> 0"),
    ("unit mismatch", ('"1e6cells/kg"', '"mg/m^2"'), "doses.unit", "cells/kg"),
    ("unknown unit", ('"1e6cells/kg"', '"furlongs"'), "doses.unit", "cells/kg, cells, mg/m^2"),
    ("missing doses", ("values = [0.3, 0.6, 1.2]\n", ""), "doses.values", "missing"),
    (
        "exact with a posterior",
        ('model = "halpc-bleeding"', 'model = "halpc-bleeding"\nposterior = true'),
        "run.engines exact",
        "use mc",
    ),
    (
        "key of another model",
        ('model = "halpc-bleeding"', 'model = "halpc-bleeding"\np_dlt = [0.1]'),
        "toxicity.p_dlt",
        "posterior, prior, cohorts, other_dlt",
    ),
    (
        "regimen list of wrong length",
        ("[run]", "[regimen]\ninfusions = [1, 2]\n[run]"),
        "regimen.infusions",
        "one per dose",
    ),
]


@pytest.mark.parametrize(("case", "change", "key", "allowed"), HALPC_BROKEN, ids=[b[0] for b in HALPC_BROKEN])
def test_a_broken_halpc_scenario_is_one_line_exit_2(tmp_path, capsys, case, change, key, allowed):
    assert change[0] in HALPC
    path = write(tmp_path, HALPC.replace(*change))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err
    assert key in err and allowed in err, err


def test_logistic_reference_unit_mismatch_names_both_keys(tmp_path, capsys):
    text = HALPC.replace(
        'model = "halpc-bleeding"',
        'model = "logistic"\np_reference = 0.1\nreference_dose = 1.0\nslope = 1.0\nreference_unit = "mg/m^2"',
    )
    assert main(["validate", str(write(tmp_path, text))]) == 2
    err = capsys.readouterr().err
    assert "toxicity.reference_unit" in err and "doses.unit" in err and "allowed" in err


def test_toml_syntax_error_keeps_line_and_column(tmp_path, capsys):
    path = write(tmp_path, TABLE.replace('name = "3+3"', 'name = "3+3'))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "TOML syntax error" in err and re.search(r"line 3, column \d+", err), err


def test_a_missing_file_is_one_line_exit_2(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.toml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.toml" in err and "cannot read" in err


def test_a_broken_scenario_in_a_real_process_is_one_line_exit_2_without_traceback(tmp_path):
    path = write(tmp_path, TABLE.replace("0.3]", "1.3]"))
    for argv in (["validate", str(path)], ["run", str(path), "--out", str(tmp_path / "out")]):
        proc = subprocess.run([sys.executable, "-m", "doseesc.cli", *argv], capture_output=True, text=True)
        assert proc.returncode == 2, proc.stderr
        assert proc.stdout == ""
        assert proc.stderr.count("\n") == 1 and "toxicity.p_dlt[3]" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_run_with_a_broken_scenario_exits_2_before_writing(tmp_path, capsys):
    path = write(tmp_path, TABLE.replace('name = "3+3"', 'name = "tpi"'))
    with pytest.raises(SystemExit) as stop:
        main(["run", str(path), "--out", str(tmp_path / "out")])
    assert stop.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_conduct_errors_name_scenario_keys(tmp_path, capsys):
    text = (
        TABLE.replace('["exact", "mc"]', '["events"]')
        + "[conduct]\naccrual_per_month = 2\nstagger_days = 40\n"
    )
    assert main(["validate", str(write(tmp_path, text))]) == 2
    err = capsys.readouterr().err
    assert "conduct.stagger_days" in err and "allowed range" in err


def test_per_level_regimens_match_the_single_regimen_models():
    """Levels that differ in regimen: each level's probabilities are those of the model with that
    regimen at that dose."""
    from doseesc.build import DoseSpec, HalpcSpec

    doses = DoseSpec((0.6, 0.6, 1.2, 1.2), "1e6cells/kg")
    tox = HalpcSpec()
    both = make_model(tox, doses, RegimenSpec((1, 2, 1, 2)))
    assert isinstance(both, LevelRegimens) and both.n_doses == 4
    for infusions, levels in ((1, [0, 2]), (2, [1, 3])):
        single = make_model(tox, DoseSpec((0.6, 1.2), "1e6cells/kg"), RegimenSpec(infusions))
        np.testing.assert_allclose(both.mean_probabilities()[levels], single.mean_probabilities(), rtol=1e-12)


def test_per_level_regimens_simulate_like_the_single_regimen_model_when_regimens_agree():
    """With one regimen written per level (all equal) the scenario keeps the plain model."""
    s = parse(HALPC.replace("[run]", "[regimen]\ninfusions = [2, 2, 2]\n[run]"), "x.toml")
    assert s.regimen == RegimenSpec(2, 7.0)


def test_table_model_for_the_course_engine_is_graded():
    from doseesc.models.graded import GradedTable

    m = make_model(TableSpec((0.1, 0.2), (0.1, 0.1)), engine="courses")
    assert isinstance(m, GradedTable)


def test_the_schema_page_documents_every_key_with_an_example():
    """docs/scenarios.md: every key the parser accepts appears in it, and every TOML example in it
    validates."""
    from doseesc import scenario

    doc = (ROOT / "docs" / "scenarios.md").read_text()
    missing = [k for k in scenario.SECTIONS if f"`[{k}]`" not in doc]
    keys = set()
    for model_keys in scenario._MODEL_KEYS.values():
        keys |= set(model_keys)
    keys |= {"unit", "values", "levels", "start", "step", "infusions", "interval_days", "eligibility"}
    keys |= {"preset", "accrual_per_month", "disease", "aclf_fraction", "transplant_share", "aclf_risk"}
    keys |= {"ad_risk", "courses", "intrapatient", "on_dlt", "low_level", "engines", "trials", "seed"}
    keys |= set(scenario.CONDUCT_FIELDS) | set(scenario._ELIGIBILITY_CHANGES)
    keys |= {"covariate", "coefficient", "centre", "log", "deescalate", "expand_top", "title", "description"}
    missing += sorted(k for k in keys if f"`{k}`" not in doc)
    assert not missing, f"docs/scenarios.md does not document: {missing}"
    examples = re.findall(r"```toml\n(.*?)```", doc, flags=re.S)
    assert len(examples) >= 3
    for i, text in enumerate(examples):
        if "[run]" in text:  # complete examples
            parse(text, f"docs example {i + 1}")


def test_scenario_error_is_a_value_error_with_the_file():
    with pytest.raises(ScenarioError) as info:
        parse("[design]\nname = 1\n", "f.toml")
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith("f.toml: design.name: got an integer (1); allowed: a string")


def test_every_mistake_is_reported_at_once_one_line_each_in_file_order(tmp_path, capsys):
    """Three mistakes in three sections: three lines, each naming the file and the key, exit 2."""
    text = (
        TABLE.replace("[design]", "[desing]")
        .replace("p_dlt =", "p_tox =")
        .replace("[run]\n", "[run]\nseed = -1\n")
    )
    path = write(tmp_path, text)
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 3, err
    assert lines[0].startswith(
        f"doseesc: error: {path}: desing: unknown key (a section); did you mean design?"
    )
    assert f"{path}: toxicity.p_tox: unknown key" in lines[1]
    assert f"{path}: run.seed: -1 is out of range" in lines[2]


def test_the_error_lists_its_lines_without_the_file():
    with pytest.raises(ScenarioError) as info:
        parse(TABLE.replace('"3+3"', "1").replace("[run]\n", "[run]\nseed = -1\n"), "f.toml")
    assert info.value.messages == (
        "design.name: got an integer (1); allowed: a string",
        "run.seed: -1 is out of range; allowed: a whole number >= 0",
    )
    assert str(info.value) == "\n".join(f"f.toml: {m}" for m in info.value.messages)


def test_a_wrong_value_hides_the_checks_that_depend_on_it():
    """An unknown model: its keys cannot be checked, and nothing else is blamed for it."""
    with pytest.raises(ScenarioError) as info:
        parse(TABLE.replace('"table"', '"tabel"') + "[doses]\nlevels = 4\n", "f.toml")
    assert info.value.messages == (
        'toxicity.model: "tabel" is not allowed; did you mean table? allowed: table, latent, logistic, '
        "halpc-bleeding",
    )


SUGGESTIONS = [
    (
        ("p_dlt =", "p_tox ="),
        'toxicity.p_tox: unknown key for model "table"; did you mean p_dlt? '
        "allowed: model, p_dlt, p_grade2, p_grade4",
    ),
    (
        ("[toxicity]", "[toxicty]"),
        "toxicty: unknown key (a section); did you mean toxicity? "
        "allowed: scenario, design, doses, toxicity, regimen, population, conduct, courses, run",
    ),
    (
        ('"3+3"', '"atd-2"'),
        'design.name: "atd-2" is not a design; did you mean atd2? allowed: 3+3, 2+2, 4+4, a+b, atd1, atd2, '
        "atd3, atd4, nct05727722, boin, keyboard, mtpi2, i3+3, crm, tite-crm, blrm",
    ),
    (
        ('"table"', '"halpc"'),
        'toxicity.model: "halpc" is not allowed; did you mean halpc-bleeding? '
        "allowed: table, latent, logistic, halpc-bleeding",
    ),
    (
        ("engines =", "engine ="),
        "run.engine: unknown key; did you mean engines? allowed: engines, trials, seed",
    ),
]


@pytest.mark.parametrize(("change", "message"), SUGGESTIONS, ids=[s[0][1] for s in SUGGESTIONS])
def test_a_misspelt_name_gets_the_nearest_allowed_one_and_nothing_else(change, message):
    assert change[0] in TABLE
    with pytest.raises(ScenarioError) as info:
        parse(TABLE.replace(*change), "f.toml")
    assert info.value.messages == (message,)


def _key_paths(node, path=()):
    """Every key of parsed TOML, as the tuple of keys and list indices that reaches it."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        if isinstance(node, dict):
            yield (*path, k)
        yield from _key_paths(v, (*path, k))


def _path_text(parts):
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")


SCENARIO_DATA = {p.stem: tomllib.loads(p.read_text()) for p in SCENARIOS}
KEY_PATHS = [(name, parts) for name, data in SCENARIO_DATA.items() for parts in _key_paths(data)]


@st.composite
def misspellings(draw, name: str) -> str:
    """One typing slip: a letter left out, doubled, swapped with the next, or a stray q, x or z."""
    i = draw(st.integers(0, len(name) - 1))
    kind = draw(st.sampled_from(["delete", "double", "swap", "insert", "replace"]))
    stray = draw(st.sampled_from("qxz"))
    if kind == "swap" and i + 1 < len(name):
        return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    return {
        "delete": name[:i] + name[i + 1 :],
        "double": name[: i + 1] + name[i:],
        "insert": name[:i] + stray + name[i:],
    }.get(kind, name[:i] + stray + name[i + 1 :])


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_misspelt_key_of_a_valid_scenario_is_exactly_one_error_naming_it(data):
    name, parts = data.draw(st.sampled_from(KEY_PATHS), label="key")
    key = parts[-1]
    wrong = data.draw(misspellings(key), label="misspelt")
    scenario = copy.deepcopy(SCENARIO_DATA[name])
    parent = scenario
    for p in parts[:-1]:
        parent = parent[p]
    if not wrong or wrong in parent:
        return
    renamed = {(wrong if k == key else k): v for k, v in parent.items()}
    parent.clear()
    parent.update(renamed)
    with pytest.raises(ScenarioError) as info:
        parse_data(scenario, f"{name}.toml")
    where = _path_text((*parts[:-1], wrong))
    assert len(info.value.messages) == 1, info.value
    assert info.value.messages[0].startswith(f"{where}: unknown key"), info.value


FALLING = TABLE.replace("0.2, 0.3]", "0.3, 0.2]")


def test_a_falling_toxicity_curve_is_accepted_with_one_warning_line(tmp_path):
    path = write(tmp_path, FALLING)
    with pytest.warns(ScenarioWarning) as caught:
        s = load(path)
    lines = [str(w.message) for w in caught if w.category is ScenarioWarning]
    assert lines == [
        f"{path}: toxicity.p_dlt: warning: not increasing (0.3 at dose 3 > 0.2 at dose 4); accepted as given"
    ]
    assert s.toxicity.p_dlt == (0.05, 0.1, 0.3, 0.2)


def test_validate_and_run_accept_a_falling_curve_and_warn(tmp_path, capsys):
    path = write(tmp_path, FALLING.replace('["exact", "mc"]', '["exact"]'))
    with pytest.warns(ScenarioWarning, match="not increasing"):
        load(path)
    for command in (["validate", str(path)], ["run", str(path), "--out", str(tmp_path / "out")]):
        assert main(command) == 0
        warned = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
        assert warned == [
            f"doseesc: {path}: toxicity.p_dlt: warning: not increasing (0.3 at dose 3 > 0.2 at dose 4); "
            "accepted as given"
        ]
    assert (tmp_path / "out" / "results.json").exists()


def test_a_flat_toxicity_curve_is_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScenarioWarning)
        parse(TABLE.replace("0.2, 0.3]", "0.2, 0.2]"), "f.toml")
