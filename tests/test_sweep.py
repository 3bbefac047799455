"""Sweeps (issue 8): same table whatever the backend, resumable after a kill, failures kept apart,
one-line errors for bad sweep files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from doseesc import build
from doseesc.cli import main
from doseesc.scenario import load
from doseesc.sweep import (
    SweepError,
    dask_runner,
    exact_applies,
    load_sweep,
    local_runner,
    pool,
    run_sweep,
    unit_seed,
    units_of,
)

BASE = """
[scenario]
name = "tiny"

[design]
name = "3+3"

[toxicity]
model = "table"
p_dlt = [0.05, 0.10, 0.25, 0.40]

[conduct]
accrual_per_month = 1.0

[run]
engines = ["exact", "mc", "events"]
trials = { mc = 3000, events = 150 }
seed = 5
"""

SWEEP = """
[sweep]
name = "tiny_grid"
base = "base.toml"
seed = 11
chunk_trials = 1000
exact_replaces_mc = false  # these tests are about chunks of simulated trials

[axes]
"toxicity.p_dlt" = [[0.05, 0.10, 0.25, 0.40], [0.02, 0.05, 0.10, 0.30]]
"design.deescalate" = [false, true]
"""


def write_sweep(folder: Path, sweep: str = SWEEP, base: str = BASE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "base.toml").write_text(base)
    path = folder / "grid.toml"
    path.write_text(sweep)
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, bytes]:
    """An uninterrupted in-process run (jobs 1) of the small sweep: its sweep file and table."""
    folder = tmp_path_factory.mktemp("ref")
    path = write_sweep(folder)
    outcome = run_sweep(load_sweep(path), folder / "out", figures=False)
    assert not outcome.failures
    return path, (folder / "out" / "sweep.csv").read_bytes()


def test_table_shape_and_manifest(reference, tmp_path):
    path, table = reference
    lines = table.decode().splitlines()
    header = lines[0].split(",")
    assert header[:4] == ["combination", "scenario", "toxicity.p_dlt", "design.deescalate"]
    assert {"p_select", "se_p_select", "mean_total_n", "p_none", "duration_median_days"} <= set(header)
    assert len(lines) - 1 == 4 * 3 * 4  # combinations x engines x doses
    sweep = load_sweep(path)
    assert len(sweep.combinations) == 4
    assert [u.n_trials for u in units_of(sweep, 11)][:3] == [1150, 1000, 1000]  # mc + events, mc, mc
    manifest = json.loads((path.parent / "out" / "sweep.json").read_text())
    assert manifest["seed"] == 11 and manifest["units"] == 12
    assert {c["status"] for c in manifest["combinations"]} == {"complete"}
    assert manifest["combinations"][3]["params"] == {
        "scenario": "tiny",
        "toxicity.p_dlt": [0.02, 0.05, 0.10, 0.30],
        "design.deescalate": True,
    }


def test_jobs_and_dask_give_the_same_table(reference, tmp_path):
    path, table = reference
    sweep = load_sweep(path)
    run_sweep(sweep, tmp_path / "two", runner=local_runner(2), figures=False)
    assert (tmp_path / "two" / "sweep.csv").read_bytes() == table
    pytest.importorskip("distributed")
    run_sweep(sweep, tmp_path / "dask", runner=dask_runner("local", 2), figures=False)
    assert (tmp_path / "dask" / "sweep.csv").read_bytes() == table


def test_rerun_skips_complete_units_and_refuses_another_sweep(reference, tmp_path):
    path, table = reference
    out = tmp_path / "out"
    run_sweep(load_sweep(path), out, figures=False)
    again = run_sweep(load_sweep(path), out, figures=False)
    assert again.skipped == again.units == 12
    assert (out / "sweep.csv").read_bytes() == table
    other = write_sweep(tmp_path / "other", SWEEP.replace("seed = 11", "seed = 12"))
    with pytest.raises(ValueError, match="holds units of another sweep"):
        run_sweep(load_sweep(other), out, figures=False)
    with pytest.raises(ValueError, match="chunk-trials"):
        run_sweep(load_sweep(path).with_chunk_trials(500), out, figures=False)


def test_killed_sweep_resumes_to_the_same_table(tmp_path):
    base = BASE.replace('["exact", "mc", "events"]', '["events"]').replace(
        "{ mc = 3000, events = 150 }", "1000"
    )
    sweep = SWEEP.replace("chunk_trials = 1000", "chunk_trials = 100").replace(
        '"design.deescalate" = [false, true]', '"conduct.accrual_per_month" = [1.0, 2.0, 3.0]'
    )
    path = write_sweep(tmp_path / "files", sweep, base)
    total = len(units_of(load_sweep(path), 11))
    assert total == 60
    out = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(Path(build.__file__).parents[1]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "doseesc.cli", "sweep", str(path), "--out", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while proc.poll() is None and len(list((out / "units").glob("*.json"))) < 3:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the sweep ended before it could be killed"
    done = len(list((out / "units").glob("*.json")))
    assert 3 <= done < total
    assert not (out / "sweep.csv").exists()
    resumed = run_sweep(load_sweep(path), out, figures=False)
    assert resumed.skipped == done and not resumed.failures
    straight = run_sweep(load_sweep(path), tmp_path / "straight", figures=False)
    assert straight.skipped == 0
    assert (out / "sweep.csv").read_bytes() == (tmp_path / "straight" / "sweep.csv").read_bytes()


def test_failed_combination_is_reported_and_others_kept(reference, tmp_path, monkeypatch, capsys):
    path, table = reference
    real = build.run_engine

    def flaky(engine, design, model, **kw):
        if design.deescalate and engine == "mc":
            raise RuntimeError("engine exploded")
        return real(engine, design, model, **kw)

    monkeypatch.setattr(build, "run_engine", flaky)
    out = tmp_path / "out"
    outcome = run_sweep(load_sweep(path), out, figures=False)
    err = capsys.readouterr().err
    assert {f.combo for f in outcome.failures} == {1, 3}
    assert (
        'combination 2 (scenario="tiny", toxicity.p_dlt=[0.05, 0.1, 0.25, 0.4], design.deescalate=true)'
        in err
    )
    assert "RuntimeError: engine exploded" in err
    manifest = json.loads((out / "sweep.json").read_text())
    assert [c["status"] for c in manifest["combinations"]] == ["complete", "failed", "complete", "failed"]
    assert manifest["failures"][0]["params"]["design.deescalate"] is True
    rows = (out / "sweep.csv").read_text().splitlines()[1:]
    assert {r.split(",")[0] for r in rows} == {"1", "3"}
    monkeypatch.setattr(build, "run_engine", real)
    retried = run_sweep(load_sweep(path), out, figures=False)
    assert not retried.failures and retried.skipped == 12 - 6
    assert (out / "sweep.csv").read_bytes() == table


def test_cli_sweep_writes_table_figure_and_fails_nonzero(reference, tmp_path, capsys, monkeypatch):
    path, table = reference
    assert main(["sweep", str(path), "--out", str(tmp_path / "cli")]) == 0
    printed = capsys.readouterr().out
    assert "4/4 combinations complete" in printed
    assert (tmp_path / "cli" / "sweep.csv").read_bytes() == table
    assert (tmp_path / "cli" / "sweep_selection.png").stat().st_size > 0
    monkeypatch.setattr(build, "run_engine", lambda *a, **k: 1 / 0)
    assert main(["sweep", str(path), "--out", str(tmp_path / "bad")]) == 1


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        (
            '[sweep]\nbase = "base.toml"\n[axes]\n"design.name" = ["3+3", "crmx"]',
            'combination 2 of 2 (design.name="crmx"): design.name',
        ),
        (
            '[sweep]\nbase = "base.toml"\n[axes]\n"toxicity.p_dlt" = [[0.1, 1.3, 0.2, 0.3]]',
            "toxicity.p_dlt[1]",
        ),
        ('[sweep]\nbase = "base.toml"\n[axes]\n"design.colour" = ["red"]', "design.colour"),
        ('[sweep]\nbase = "missing.toml"', "missing.toml: cannot read"),
        ('[sweep]\nbase = "base.toml"\n[axes]\n"design.name" = []', "non-empty list"),
        ('[sweep]\nbase = "base.toml"\n[axes]\ndesign.name = ["3+3"]', "quoted key path"),
        ('[sweep]\nbase = "base.toml"\n[axes]\n"run.seed" = [1, 2]', "cannot vary"),
        ("[sweep\n", "TOML syntax error"),
    ],
)
def test_sweep_file_errors_exit_2_with_one_line(tmp_path, capsys, sweep, message):
    path = write_sweep(tmp_path, sweep)
    with pytest.raises(SystemExit) as exc:
        main(["sweep", str(path), "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and message in err
    assert not (tmp_path / "out").exists()


def test_dask_errors_are_one_line():
    with pytest.raises(ValueError, match="allowed: local, or tcp://"):
        dask_runner("udp://x", 1)


def test_pooled_chunks_match_the_whole():
    rng = np.random.default_rng(0)
    x = rng.poisson(5.0, size=(3, 230)).astype(float)  # per dose, per trial
    chunks = [x[:, :100], x[:, 100:200], x[:, 200:229], x[:, 229:]]  # the last holds one trial
    records = []
    for c in chunks:
        n = c.shape[1]
        sd = c.std(axis=1, ddof=1) if n > 1 else np.full(3, np.nan)
        tot = c.sum(axis=0)
        records.append(
            {
                "n_trials": n,
                "p_tox": [0.1, 0.2, 0.3],
                "p_select": (c > 5).mean(axis=1).tolist(),
                "p_none": 0.0,
                "mean_n": c.mean(axis=1).tolist(),
                "sd_n": sd.tolist(),
                "mean_dlt": c.mean(axis=1).tolist(),
                "sd_dlt": sd.tolist(),
                "mean_total_n": float(tot.mean()),
                "sd_total_n": float(tot.std(ddof=1)) if n > 1 else float("nan"),
                "mean_total_dlt": float(tot.mean()),
                "sd_total_dlt": float(tot.std(ddof=1)) if n > 1 else float("nan"),
                "durations": tot.tolist(),
            }
        )
    r = pool(records)
    assert r["n_trials"] == 230
    np.testing.assert_allclose(r["mean_n"], x.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(r["sd_n"], x.std(axis=1, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(r["se_mean_n"], x.std(axis=1, ddof=1) / np.sqrt(230), rtol=1e-12)
    np.testing.assert_allclose(r["p_select"], (x > 5).mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(r["sd_total_n"], x.sum(axis=0).std(ddof=1), rtol=1e-12)
    assert r["duration_median_days"] == np.median(x.sum(axis=0))


def test_unit_seeds_are_seed_sequence_children():
    child = np.random.SeedSequence(11).spawn(3)[2].spawn(2)[1]
    words = child.generate_state(4, np.uint32)
    assert unit_seed(11, 2, 1) == sum(int(w) << (32 * k) for k, w in enumerate(words))
    assert len({unit_seed(11, i, j) for i in range(5) for j in range(5)}) == 25


def test_directory_of_scenarios(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    exact_only = BASE.replace('["exact", "mc", "events"]', '["exact"]').replace(
        "[conduct]\naccrual_per_month = 1.0\n", ""
    )
    (folder / "a.toml").write_text(exact_only)
    (folder / "b.toml").write_text(exact_only.replace("0.40", "0.6"))
    path = tmp_path / "dir.toml"
    path.write_text('[sweep]\nscenarios = "many"\nseed = 1\n[axes]\n"design.expand_top" = [false, true]\n')
    sweep = load_sweep(path)
    assert [c.label for c in sweep.combinations] == [
        "a, expand_top=false",
        "a, expand_top=true",
        "b, expand_top=false",
        "b, expand_top=true",
    ]
    outcome = run_sweep(sweep, tmp_path / "out", figures=False)
    assert outcome.header[:3] == ["combination", "scenario", "design.expand_top"]
    assert {row[1] for row in outcome.rows} == {"a", "b"}
    assert len(outcome.rows) == 4 * 4


def test_sweep_error_is_a_value_error():
    assert issubclass(SweepError, ValueError)


def test_exact_replaces_the_monte_carlo_engine_only_where_it_applies(tmp_path):
    root = Path(__file__).resolve().parents[1] / "scenarios"
    assert exact_applies(load(root / "textbook_3p3.toml"))
    assert not exact_applies(load(root / "halpc_3p3_redesign.toml"))  # a posterior: patients share it
    path = write_sweep(tmp_path, SWEEP.replace("exact_replaces_mc = false", ""))
    sweep = load_sweep(path)
    assert {c.scenario.run.engines for c in sweep.combinations} == {("exact", "events")}
    kept = load_sweep(write_sweep(tmp_path / "kept"))
    assert {c.scenario.run.engines for c in kept.combinations} == {("exact", "mc", "events")}


def test_a_design_parameter_axis_skips_designs_without_it(tmp_path):
    sweep = """
[sweep]
base = "base.toml"
[axes]
"design.name" = ["3+3", "boin"]
"design.cohort_size" = [1, 3]
"design.target" = [0.25]
"""
    combos = load_sweep(write_sweep(tmp_path, sweep)).combinations
    assert [dict(c.params)["design.cohort_size"] for c in combos] == [None, 1, 3]
    assert [c.scenario.design.name for c in combos] == ["3+3", "boin", "boin"]
    assert dict(combos[1].scenario.design.params)["cohort_size"] == 1


def _strict(text: str):
    """JSON as the standard has it: NaN and Infinity are no JSON numbers."""

    def refuse(constant: str):
        raise AssertionError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def test_sweep_files_hold_null_never_nan(tmp_path):
    """A chunk of one trial has undefined SDs: its unit file holds null for them (and reads back
    as NaN in the merge, which pools them away); every JSON file of the folder is strict JSON, and
    the events engine's share of trials that ran out of time is pooled into the table."""
    base = BASE.replace('engines = ["exact", "mc", "events"]', 'engines = ["events"]').replace(
        "trials = { mc = 3000, events = 150 }", "trials = 1001"
    )
    sweep = SWEEP.replace('"design.deescalate" = [false, true]\n', "").replace(
        '"toxicity.p_dlt" = [[0.05, 0.10, 0.25, 0.40], [0.02, 0.05, 0.10, 0.30]]',
        '"toxicity.p_dlt" = [[0.05, 0.10, 0.25, 0.40]]',
    )
    path = write_sweep(tmp_path, sweep, base)
    outcome = run_sweep(load_sweep(path), tmp_path / "out", figures=False)
    assert not outcome.failures
    files = sorted((tmp_path / "out").rglob("*.json"))
    assert len(files) == 4  # the state, two units, the manifest
    data = {f.name: _strict(f.read_text()) for f in files}
    single = data["00000-0001.json"]["engines"]["events"]
    assert single["n_trials"] == 1 and single["sd_n"] == [None] * 4 and single["sd_total_n"] is None
    header, row = outcome.header, outcome.rows[0]
    assert row[header.index("n_trials")] == 1001
    assert row[header.index("p_out_of_time")] == 0.0 and row[header.index("se_p_out_of_time")] == 0.0
    assert np.isfinite(row[header.index("se_mean_total_n")])
    result = data["sweep.json"]["combinations"][0]["results"]["events"]
    assert result["p_out_of_time"] == 0.0 and result["se_p_out_of_time"] == 0.0


def test_write_json_turns_undefined_numbers_into_null(tmp_path):
    from doseesc.output import write_json

    write_json(tmp_path / "x.json", {"a": np.array([1.0, np.nan]), "b": [np.inf, {"c": float("-inf")}]})
    assert _strict((tmp_path / "x.json").read_text()) == {"a": [1.0, None], "b": [None, {"c": None}]}
