"""doseesc run and compare: every scenario runs, results are complete and repeatable, output folders
are replaced whole or not at all (a real SIGINT included)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from doseesc.build import DesignSpec, TableSpec, make_design, make_model
from doseesc.cli import main
from doseesc.engines import exact
from doseesc.output import MARKER
from doseesc.progress import Progress

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))
PNG = b"\x89PNG\r\n\x1a\n"


def run(tmp_path: Path, scenario: Path, *extra: str, out: str = "out") -> Path:
    folder = tmp_path / out
    assert main(["run", str(scenario), "--out", str(folder), *extra]) == 0
    return folder


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_scenario_runs_with_few_trials(scenario_run, path):
    folder, out = scenario_run(path)  # doseesc run PATH --trials 64 --seed 1, once (conftest.py)
    data = json.loads((folder / "results.json").read_text())
    engines = list(data["engines"])
    assert engines == data["scenario"]["run"]["engines"]
    for engine in engines:
        assert f"[{engine}]" in out
        res = data["engines"][engine]
        n = len(data["toxicity"]["p_dlt"])
        assert len(res["p_select"]) == n
        assert sum(res["p_select"]) + res["p_none"] == pytest.approx(1.0)
        if engine != "exact":
            assert res["n_trials"] == 64 and res["seed"] == 1 and len(res["se_p_select"]) == n
    assert data["seed"] == 1 and data["version"]
    assert (folder / "scenario.toml").read_text() == path.read_text()
    for stem in ("selection", "dose_toxicity", *(["duration", "timeline"] if "events" in engines else [])):
        assert (folder / f"{stem}.png").read_bytes()[:8] == PNG
        assert (folder / f"{stem}.svg").read_text().lstrip().startswith("<?xml")
    with (folder / "selection.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(engines) * (n + 1) and rows[-1]["dose_label"] == "none"
    assert [p.name for p in folder.parent.iterdir()] == ["out"]  # no temporary folder left beside it


def test_results_json_holds_inputs_seed_version_and_standard_errors(tmp_path, capsys):
    folder = run(tmp_path, ROOT / "scenarios" / "textbook_3p3.toml", "--trials", "2000")
    data = json.loads((folder / "results.json").read_text())
    # Every parameter of the design is echoed, given or default.
    assert data["scenario"]["design"] == {
        "name": "3+3",
        "deescalate": False,
        "expand_top": False,
        "start_dose": 0,
        "max_n": None,
        "stop_n_at_dose": None,
    }
    assert data["scenario"]["toxicity"]["p_dlt"] == [0.05, 0.1, 0.2, 0.3, 0.5, 0.7]
    assert data["seed"] == 1  # the file's
    mc, ex = data["engines"]["mc"], data["engines"]["exact"]
    assert {"se_p_select", "se_p_none", "se_mean_n", "se_mean_total_n"} <= mc.keys()
    oc = exact(make_design(DesignSpec("3+3"), 6), np.array([0.05, 0.1, 0.2, 0.3, 0.5, 0.7]))
    assert ex["p_select"] == oc.p_select.tolist()
    # Monte Carlo agrees with the exact engine within its standard errors.
    z = (np.array(mc["p_select"]) - oc.p_select) / np.maximum(mc["se_p_select"], 1e-9)
    assert np.all(np.abs(z) < 5)
    with (folder / "summary.csv").open() as f:
        summary = {(r["engine"], r["quantity"]): r for r in csv.DictReader(f)}
    assert float(summary["mc", "mean_total_patients"]["se"]) > 0
    assert summary["exact", "mean_total_patients"]["se"] == ""


def test_same_seed_same_files_and_the_folder_is_replaced_whole(scenario_run, tmp_path, capsys):
    path = ROOT / "scenarios" / "textbook_3p3.toml"
    folder = Path(shutil.copytree(scenario_run(path)[0], tmp_path / "out"))
    first = (folder / "results.json").read_text()
    (folder / "results.json").write_text("edited by hand")  # a file of the manifest: doseesc's
    run(tmp_path, path, *scenario_run.options)  # as the shared run was made
    assert (folder / "results.json").read_text() == first
    listed = (folder / MARKER).read_text().splitlines()[1:]
    assert sorted(listed) == sorted(p.name for p in folder.iterdir() if p.name != MARKER)
    umask = os.umask(0o022)
    os.umask(umask)
    assert folder.stat().st_mode & 0o777 == 0o777 & ~umask  # not the private mode of a temporary folder


def test_without_a_seed_fresh_entropy_is_reported_and_repeats(tmp_path, capsys):
    text = (ROOT / "scenarios" / "textbook_3p3.toml").read_text().replace("seed = 1\n", "")
    path = tmp_path / "noseed.toml"
    path.write_text(text)
    a = json.loads((run(tmp_path, path, "--trials", "500", out="a") / "results.json").read_text())
    b_dir = run(tmp_path, path, "--trials", "500", "--seed", str(a["seed"]), out="b")
    b = json.loads((b_dir / "results.json").read_text())
    assert a["scenario"]["run"]["seed"] is None and b["engines"]["mc"] == a["engines"]["mc"]


def test_a_folder_not_written_by_doseesc_is_never_replaced(tmp_path, capsys):
    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(SystemExit) as stop:
        main(["run", str(ROOT / "scenarios" / "textbook_3p3.toml"), "--out", str(precious)])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err and "not written by doseesc" in err
    assert [p.name for p in precious.iterdir()] == ["thesis.tex"]


def test_compare_prints_a_table_and_writes_the_figure(compare_3p3):
    folder, printed = compare_3p3  # textbook_3p3 and textbook_3p3_deescalate (conftest.py)
    out = printed.splitlines()
    assert out[0].split()[:3] == ["scenario", "design", "engine"]
    assert out[1].startswith("textbook_3p3 ") and out[2].startswith("textbook_3p3_deescalate ")
    assert (folder / "comparison.png").read_bytes()[:8] == PNG
    with (folder / "comparison.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["scenario"] for r in rows} == {"textbook_3p3", "textbook_3p3_deescalate"}
    data = json.loads((folder / "comparison.json").read_text())
    de = data["scenarios"][1]["engines"]["exact"]
    oc = exact(
        make_design(DesignSpec("3+3", (("deescalate", True),)), 6), np.array([0.05, 0.1, 0.2, 0.3, 0.5, 0.7])
    )
    assert de["p_select"] == oc.p_select.tolist()


def test_compare_with_one_engine_and_a_common_seed(tmp_path, capsys):
    a, b = ROOT / "scenarios" / "textbook_3p3.toml", ROOT / "scenarios" / "nct05727722.toml"
    argv = ["compare", str(a), str(b), "--engine", "mc", "--trials", "300", "--seed", "5"]
    assert main([*argv, "--out", str(tmp_path / "c")]) == 0
    data = json.loads((tmp_path / "c" / "comparison.json").read_text())
    assert [list(s["engines"]) for s in data["scenarios"]] == [["mc"], ["mc"]]
    assert {s["seed"] for s in data["scenarios"]} == {5}


def test_the_simulate_command_builds_through_the_same_functions(capsys):
    """doseesc simulate and a scenario build the same model from the same numbers."""
    assert main(["simulate", "--design", "3+3", "--p-tox", "0.1,0.3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    model = make_model(TableSpec((0.1, 0.3)))
    assert (
        out["p_select"]
        == exact(make_design(DesignSpec("3+3"), 2), model.mean_probabilities()).p_select.tolist()
    )


def test_progress_is_silent_off_a_terminal_and_draws_on_one(tmp_path):
    class Tty:
        def __init__(self, tty: bool) -> None:
            self.text, self.tty = "", tty

        def isatty(self) -> bool:
            return self.tty

        def write(self, s: str) -> None:
            self.text += s

        def flush(self) -> None:
            pass

    quiet, loud = Tty(False), Tty(True)
    for stream in (quiet, loud):
        with Progress(stream, delay=0.0) as p:
            update = p.stage("events", 1000)
            update(500)
            time.sleep(0.3)
    assert quiet.text == ""
    assert "events [" in loud.text and "50%" in loud.text and "500/1,000" in loud.text
    assert loud.text.endswith("\r\033[K")  # the line is cleared at the end


def test_sigint_leaves_the_output_folder_as_it_was(scenario_run, tmp_path):
    """A real process, interrupted while simulating: exit 130 with one line, the earlier results
    untouched, no temporary folder left."""
    scenario = ROOT / "scenarios" / "textbook_3p3.toml"
    folder = Path(shutil.copytree(scenario_run(scenario)[0], tmp_path / "out"))
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "doseesc.cli",
            "run",
            str(scenario),
            "--out",
            str(folder),
            "--trials",
            "400000000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob(".out.tmp-*")):  # the run has started writing its staged folder
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert out == "" and err == "doseesc: interrupted (SIGINT); earlier results are as they were\n"
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
