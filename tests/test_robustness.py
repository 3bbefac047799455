"""Robustness (issue 17): every hostile input ends in a finite run or one error line with exit 2;
every interruption leaves earlier results as they were; nothing that is not doseesc's is deleted
or replaced.

Three parts: one test per failure the issue lists; property-based tests (hypothesis) that generate
command lines, scenario files and sweep files from the edges of every range (0, tiny, huge, inf,
nan, empty, dates, unicode, very long, deeply nested), run in-process through
:func:`doseesc.cli.main` with a handful of trials; and interrupts of real processes at several
moments.  ``DOSEESC_HYPOTHESIS_EXAMPLES`` sets the number of generated examples (default 25).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from doseesc.cli import main
from doseesc.conduct import MAX_ARRIVALS_PER_PERIOD
from doseesc.output import MARKER
from doseesc.sweep import worker_count

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "textbook_3p3.toml"
CURVE = "0.05,0.1,0.2,0.3,0.5,0.7"
EVENTS = ["simulate", "--design", "3+3", "--p-tox", CURVE, "--engine", "events", "--seed", "1"]
EXAMPLES = int(os.environ.get("DOSEESC_HYPOTHESIS_EXAMPLES", "25"))
LONG = "a" * 300  # longer than the 255 bytes a file name may have


def outcome(argv: list[str]) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of ``doseesc ARGV`` run in this process."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stop:
            code = stop.code
    return code, out.getvalue(), err.getvalue()


def refused(argv: list[str], *words: str) -> str:
    """Assert ``doseesc ARGV`` exits 2 with one error line holding ``words``; that line."""
    code, _, err = outcome(argv)
    lines = err.splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("doseesc: error: "), (code, err)
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def one_error_per_line(err: str) -> None:
    """A scenario file may have several mistakes: each is one line, and nothing else is printed."""
    lines = err.splitlines()
    assert lines and all(line.startswith("doseesc: error: ") for line in lines), err


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def strict_json(text: str):
    def no_constant(name: str):
        raise AssertionError(f"{name} in JSON output")

    return json.loads(text, parse_constant=no_constant)


@pytest.fixture(scope="module")
def results(scenario_run) -> Path:
    """A results folder written by ``doseesc run`` with a few trials, shared by the test files
    (conftest.py); copied by the tests that change it."""
    return scenario_run(SCENARIO)[0]


def fresh_results(results: Path, tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "out"
    shutil.copytree(results, target)
    return target


# ---------------------------------------------------------------------------------------------
# Never lose or clobber what is not ours


def test_a_users_file_in_a_results_folder_is_never_deleted(results, tmp_path):
    folder = fresh_results(results, tmp_path)
    (folder / "notes.txt").write_text("mine")
    before = snapshot(folder)
    line = refused(["run", str(SCENARIO), "--trials", "20", "--out", str(folder)], "notes.txt", "--out")
    assert "results.json" not in line  # only the foreign file is named
    assert snapshot(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folder left


def test_the_manifest_lists_every_file_and_a_report_beside_them_joins_it(results, tmp_path):
    folder = fresh_results(results, tmp_path)
    listed = (folder / MARKER).read_text().splitlines()[1:]
    assert sorted(listed) == sorted(p.name for p in folder.iterdir() if p.name != MARKER)
    code, _, err = outcome(["report", str(folder), "--format", "md"])
    assert code == 0, err
    assert {"report.md", "report_figures"} <= set((folder / MARKER).read_text().splitlines())
    code, _, err = outcome(["run", str(SCENARIO), "--trials", "20", "--out", str(folder)])
    assert code == 0, err  # the report was doseesc's: replaced with the rest


def test_a_folder_of_an_older_doseesc_without_a_file_list_is_refused_saying_so(results, tmp_path):
    folder = fresh_results(results, tmp_path)
    (folder / MARKER).write_text(
        "Written by doseesc 0.1. The next run with this folder as --out replaces it whole.\n"
    )
    before = snapshot(folder)
    refused(["run", str(SCENARIO), "--trials", "5", "--out", str(folder)], "older", "names no files")
    assert snapshot(folder) == before


def test_a_device_is_never_replaced_by_a_figure():
    mode = os.stat("/dev/null").st_mode
    refused(["calibrate", "halpc", "--plot", "/dev/null"], "/dev/null", "not a regular file")
    refused([*EVENTS, "--accrual-per-month", "1", "--trials", "2", "--timeline", "/dev/null"], "/dev/null")
    assert os.stat("/dev/null").st_mode == mode


def test_a_folder_is_never_replaced_by_a_figure(tmp_path):
    refused([*EVENTS, "--accrual-per-month", "1", "--trials", "2", "--timeline", str(tmp_path)], "regular")
    assert tmp_path.is_dir()


# ---------------------------------------------------------------------------------------------
# Operating-system errors: one line naming the path and the reason


@pytest.mark.parametrize("command", ["run", "compare"])
@pytest.mark.parametrize(
    ("out", "reason"),
    [
        ("{tmp}/afile/sub", "is not a folder"),
        ("/sys/doseesc-test", "cannot write"),
        ("/proc/doseesc-test", "cannot write"),
        ("{tmp}/" + LONG, "File name too long"),
        ("", "empty path"),
    ],
    ids=["parent-is-a-file", "sys", "proc", "too-long", "empty"],
)
def test_output_folders_that_cannot_be_written_are_one_line(tmp_path, command, out, reason):
    (tmp_path / "afile").write_text("x")
    scenarios = [str(SCENARIO)] * (2 if command == "compare" else 1)
    refused([command, *scenarios, "--trials", "5", "--out", out.format(tmp=tmp_path)], reason)
    assert (tmp_path / "afile").read_text() == "x"


def test_a_read_only_folder_is_one_line(tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: let the system refuse as it would anyone else
        import tempfile as tf

        def denied(*args, **kw):
            raise PermissionError(13, "Permission denied", str(folder))

        monkeypatch.setattr(tf, "mkdtemp", denied)
    refused(["run", str(SCENARIO), "--trials", "5", "--out", str(folder / "x")], "Permission denied")
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize(
    ("target", "reason"),
    [("{tmp}/missing/t.png", "does not exist"), ("{tmp}", "not a regular file"), ("", "not a file name")],
)
def test_timeline_paths_are_checked_before_the_run(tmp_path, target, reason):
    argv = [*EVENTS, "--accrual-per-month", "1", "--trials", "2", "--timeline", target.format(tmp=tmp_path)]
    refused(argv, reason)


def test_the_sweep_folder_errors_are_one_line(tmp_path):
    sweep = _sweep_file(tmp_path, '"design.deescalate" = [false]')
    (tmp_path / "afile").write_text("x")
    refused(["sweep", str(sweep), "--out", str(tmp_path / "afile" / "s")], "is not a folder")
    refused(["sweep", str(sweep), "--out", ""], "empty path")
    refused(["sweep", str(sweep), "--out", str(tmp_path / LONG)], "File name too long")


# ---------------------------------------------------------------------------------------------
# Input files


def _base(tmp_path: Path, engines: str = '["exact"]') -> Path:
    base = tmp_path / "base.toml"
    base.write_text(SCENARIO.read_text().replace('engines = ["exact", "mc"]', f"engines = {engines}"))
    return base


def _sweep_file(tmp_path: Path, axes: str) -> Path:
    _base(tmp_path)
    path = tmp_path / "grid.toml"
    path.write_text(f'[sweep]\nbase = "base.toml"\nseed = 1\n[axes]\n{axes}\n')
    return path


def test_deeply_nested_toml_is_one_line(tmp_path):
    deep = tmp_path / "deep.toml"
    deep.write_text("[scenario]\nx = " + "[" * 5000 + "]" * 5000 + "\n")
    refused(["validate", str(deep)], "nests too deeply")
    refused(["run", str(deep), "--out", str(tmp_path / "o")], "nests too deeply")
    sweep = tmp_path / "s.toml"
    sweep.write_text("[sweep]\nbase = " + "[" * 5000 + "]" * 5000 + "\n")
    refused(["sweep", str(sweep), "--out", str(tmp_path / "s")], "nests too deeply")


@pytest.mark.parametrize(
    "value", ["[1979-05-27]", "[1979-05-27T07:32:00]", "[07:32:00]", "[[1, 1979-05-27]]", "[{a = 1}]"]
)
def test_a_toml_date_or_table_in_a_sweep_axis_is_one_line(tmp_path, value):
    sweep = _sweep_file(tmp_path, f'"design.max_n" = {value}')
    refused(["sweep", str(sweep), "--out", str(tmp_path / "s")], 'axes."design.max_n"', "allowed")
    assert not (tmp_path / "s").exists()


def test_a_toml_date_in_the_base_scenario_of_a_sweep_is_one_line(tmp_path):
    sweep = _sweep_file(tmp_path, '"design.deescalate" = [false, true]')
    (tmp_path / "base.toml").write_text(
        (tmp_path / "base.toml").read_text() + "\n[doses]\nlevels = 1979-05-27\n"
    )
    refused(["sweep", str(sweep), "--out", str(tmp_path / "s")], "doses.levels")


def test_a_scenario_name_too_long_for_a_file_name_is_one_line(tmp_path):
    path = tmp_path / "long.toml"
    path.write_text(SCENARIO.read_text().replace('name = "textbook_3p3"', f'name = "{"n" * 300}"'))
    refused(["validate", str(path)], "scenario.name", "1 to 100")
    refused(["run", str(path), "--trials", "5"], "scenario.name")
    assert not (Path("results") / ("n" * 300)).exists()


# ---------------------------------------------------------------------------------------------
# Meaningless settings, NaN in JSON


def test_courses_with_one_trial_writes_null_not_nan():
    code, out, err = outcome(
        ["simulate", "--design", "3+3", "--p-tox", CURVE, "--engine", "courses", "--trials", "1", "--json"]
    )
    assert code == 0, err
    data = strict_json(out)
    assert data["sd_total_n"] is None and data["se_mean_patients"] is None  # one trial: no spread


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (
            [*EVENTS, "--accrual-per-month", "1", "--trials", "2", "--transplant-share", "0.5"],
            ["--aclf-fraction"],
        ),
        (["simulate", "--design", "3+3", "--p-tox", CURVE, "--transplant-share", "0.5"], ["--engine events"]),
        (
            ["simulate", "--design", "3+3", "--p-tox", CURVE, "--engine", "courses", "--low-level", "99"],
            ["--low-level", "[0, 5]"],
        ),
    ],
    ids=["transplant-share-without-aclf", "transplant-share-without-events", "low-level-beyond-ladder"],
)
def test_settings_without_effect_are_refused(argv, words):
    refused(argv, *words)


def test_a_low_level_beyond_the_ladder_in_a_scenario_is_one_line(tmp_path):
    path = tmp_path / "c.toml"
    text = SCENARIO.read_text().replace('engines = ["exact", "mc"]', 'engines = ["courses"]')
    path.write_text(text + "\n[courses]\nlow_level = 99\n")
    code, _, err = outcome(["validate", str(path)])
    assert code == 2 and "courses.low_level" in err
    one_error_per_line(err)


# ---------------------------------------------------------------------------------------------
# Limits that make every run finite


@pytest.mark.parametrize(
    ("extra", "option"),
    [
        (["--accrual-per-month", "1", "--window-days", "1e300", "--trials", "200"], "--window-days"),
        (["--accrual-per-month", "1", "--window-days", "1e9", "--trials", "200"], "--window-days"),
        (["--accrual-per-month", "1e308", "--trials", "200"], "--accrual-per-month"),
        (["--accrual-per-month", "1", "--screen-failure", "0.999999", "--trials", "20"], "--screen-failure"),
        (
            ["--accrual-per-month", "1", "--halt-probability", "1", "--halt-days", "1e300", "--trials", "50"],
            "--halt-days",
        ),
        (["--accrual-per-month", "1e-310", "--trials", "10"], "--accrual-per-month"),
        (["--accrual-per-month", "300", "--window-days", "3000", "--trials", "1"], "--accrual-per-month"),
        (["--accrual-per-month", "1", "--trials", "10000000000"], "--trials"),
    ],
    ids=[
        "window-1e300",
        "window-1e9",
        "accrual-huge",
        "screen-failure",
        "halt",
        "accrual-tiny",
        "arrivals",
        "memory",
    ],
)
def test_runs_that_would_not_finish_are_refused_naming_the_option(extra, option):
    refused([*EVENTS, *extra], option, "allowed")


def test_the_memory_refusal_states_the_estimate():
    line = refused([*EVENTS, "--accrual-per-month", "1", "--trials", "10000000000"], "--trials")
    assert "GB" in line and "at most about" in line


def test_a_million_infusions_are_refused():
    argv = ["simulate", "--design", "3+3", "--model", "halpc-bleeding", "--doses", "0.3,0.6,1.2,2.5,5"]
    refused([*argv, "--dose-unit", "1e6cells/kg", "--trials", "10", "--infusions", "1000000"], "--infusions")


def test_a_sweep_grid_too_large_to_hold_is_refused(tmp_path):
    values = ", ".join(str(n) for n in range(1, 20_002))
    sweep = _sweep_file(tmp_path, f'"design.max_n" = [{values}]')
    refused(["sweep", str(sweep), "--out", str(tmp_path / "s")], "20,001 combinations", "10,000")


def test_worker_processes_are_capped_by_units_and_cores():
    cores = os.cpu_count() or 1
    assert worker_count(64, 16) == min(16, cores)
    assert worker_count(64, 1) == 1 and worker_count(1, 100) == 1 and worker_count(3, 0) == 1


# ---------------------------------------------------------------------------------------------
# Property-based: every command line, scenario file and sweep file


EDGE_TEXT = [
    "0", "1", "-1", "2", "7", "0.5", "1e-310", "5e-324", "1e308", "inf", "-inf", "nan", "",
    "1979-05-27", "ü", "三", LONG, "0.1,0.2", ",", "0,1", "true",
]  # fmt: skip
PLAIN_TEXT = ["3", "12", "0.25", "28", "0.3"]  # ordinary values, so that generated runs also succeed
SIMULATE_OPTIONS = [
    "--seed", "--jobs", "--p-tox", "--accrual-per-month", "--screening-days", "--screen-failure",
    "--max-wait-days", "--stagger-days", "--window-days", "--halt-probability", "--halt-days",
    "--aclf-fraction", "--transplant-share", "--infusions", "--interval-days", "--courses", "--low-level",
    "--max-n", "--cohort-size", "--target", "--doses", "--dose-unit", "--levels", "--start-dose",
    "--accrual", "--dlt-onset", "--cohort-decision", "--on-dlt", "--timeline",
]  # fmt: skip


@contextmanager
def in_temporary_folder():
    """Run in a fresh current folder, so that a generated path writes nowhere else."""
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            yield Path(tmp)
        finally:
            os.chdir(here)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    engine=st.sampled_from(["exact", "mc", "events", "courses", "mc", "events", "tite", "nope", ""]),
    # The CRM is left out: with 6 doses it tabulates its states before any trial (about 30 s on one
    # core whatever the trials; found by this test, reported in issue 17), too slow for every example.
    design=st.sampled_from(["3+3", "boin", "i3+3", "atd2", "blrm", "x"]),
    trials=st.sampled_from(["1", "2", "7"] * 3 + ["0", "-1", "nan", "1e3", ""]),
    options=st.lists(
        st.tuples(st.sampled_from(SIMULATE_OPTIONS), st.sampled_from(EDGE_TEXT + PLAIN_TEXT * 3)), max_size=3
    ),
    accrual=st.sampled_from([None, "1", "1e-3", "1e4", "0.5,0.5", "2", "2"]),
    as_json=st.booleans(),
)
def test_any_simulate_command_line_finishes_or_is_one_error_line(
    engine, design, trials, options, accrual, as_json
):
    argv = ["simulate", "--design", design, "--p-tox", CURVE, "--engine", engine, "--trials", trials]
    argv += [] if accrual is None else ["--accrual-per-month", accrual]
    argv += [part for option, value in options for part in (option, value)] + (["--json"] if as_json else [])
    with in_temporary_folder() as here:
        code, out, err = outcome(argv)
        written = {p.name for p in here.iterdir()}
    event(f"exit {code}")
    assert code in (0, 2), (argv, code, err)
    if code == 2:
        assert err.count("\n") == 1 and err.startswith("doseesc: error: "), (argv, err)
        assert written == set(), (argv, written)  # a refused command writes nothing
        return
    assert "Traceback" not in err
    if as_json:
        data = strict_json(out)
        if engine == "events":
            c = data["counts"]  # bounded work: screenings per period of one cohort
            periods = c["dosed"]["mean"] + c["halts"]["mean"] + 1
            assert c["screened"]["mean"] <= MAX_ARRIVALS_PER_PERIOD * periods, (argv, c)


def toml_value(v) -> str:
    """A value as TOML (enough for the generated values)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, int | dt.date | dt.time):
        return v.isoformat() if not isinstance(v, int) else str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, Deep):
        return "[" * v.depth + "]" * v.depth
    return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + "}"


EDGE_SCALARS = st.one_of(
    st.sampled_from([0, 1, -1, 2, 3, 1_000_000, 2**63 - 1, -(2**63)]),
    st.sampled_from([0.0, 5e-324, 1e-310, 0.5, 1.0, 1e308, math.inf, -math.inf, math.nan]),
    st.sampled_from(["", "ü", "三", "3+3", "exact", LONG, "a\tb", "\u202e"]),
    st.booleans(),
    st.dates(),
    st.times(),
    st.datetimes(),
)


@dataclass(frozen=True)
class Deep:
    """A list nested ``depth`` levels deep, ``[[[...]]]``, written out only as TOML text (3000 levels
    are beyond the TOML parser's recursion, and beyond what hypothesis can print)."""

    depth: int


def nested(depth: int):
    return st.recursive(EDGE_SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=depth)


PLAIN_VALUES = st.sampled_from(
    [
        6,
        12,
        24,
        0.3,
        0.25,
        True,
        False,
        "boin",
        "exact",
        ["exact"],
        ["mc", "exact"],
        [0.1, 0.2, 0.4, 0.5, 0.6, 0.7],
    ],
)  # ordinary values, so that generated scenarios also run
EDGE_VALUES = st.one_of(
    PLAIN_VALUES,
    EDGE_SCALARS,
    nested(8),
    st.sampled_from([3, 60, 3000]).map(Deep),
    st.dictionaries(st.sampled_from(["a", "name"]), EDGE_SCALARS, max_size=2),
)
SCENARIO_KEYS = [
    "scenario.name", "scenario.title", "design.name", "design.max_n", "design.deescalate", "design.target",
    "design.cohort_size", "toxicity.model", "toxicity.p_dlt", "toxicity.p_grade2", "run.engines",
    "run.trials", "run.seed", "doses.levels", "doses.values", "doses.unit", "regimen.infusions",
    "conduct.accrual_per_month", "conduct.window_days", "courses.low_level", "extra.key", "design.colour",
]  # fmt: skip


def with_value(key: str, value) -> dict:
    data = tomllib.loads(SCENARIO.read_text())
    data["run"]["engines"] = ["exact"]
    section, name = key.split(".")
    data.setdefault(section, {})[name] = value
    return data


def toml_document(data: dict) -> str:
    return "".join(
        f"[{section}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in table.items())
        for section, table in data.items()
    )


VALID = {
    "scenario.name": "renamed",
    "scenario.title": "ü " * 50,
    "design.max_n": 12,
    "design.deescalate": True,
    "design.target": 0.25,
    "toxicity.p_dlt": [0.01, 0.02, 0.03, 0.5, 0.9, 0.99],
    "run.trials": 1,
    "run.seed": 0,
    "doses.levels": 6,
    "run.engines": ["exact", "mc"],
}  # a valid value per key, so that generated scenarios also run


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pair=st.sampled_from(SCENARIO_KEYS).flatmap(
        lambda k: st.tuples(
            st.just(k), st.one_of(st.just(VALID[k]), EDGE_VALUES) if k in VALID else EDGE_VALUES
        )
    )
)
def test_any_scenario_file_validates_or_is_one_line_per_error(pair):
    key, value = pair
    with in_temporary_folder() as here:
        path = here / "s.toml"
        path.write_text(toml_document(with_value(key, value)), encoding="utf-8")
        code, out, err = outcome(["validate", str(path)])
        event(f"validate: exit {code}")
        assert code in (0, 2), (key, value, code, err)
        if code == 2:
            one_error_per_line(err)
            return
        assert out.startswith("ok: ")
        # A valid scenario runs (exact engine only: its work is bounded by the design's maximum size).
        code, _, err = outcome(["run", str(path), "--trials", "3", "--out", str(here / "o")])
        assert code in (0, 2), (key, value, code, err)
        if code == 2:
            assert err.count("\n") == 1, err


@settings(max_examples=max(5, EXAMPLES // 3), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    key=st.sampled_from(["design.deescalate", "design.max_n", "toxicity.p_dlt", "run.trials", "design.name"]),
    values=st.lists(EDGE_VALUES, min_size=0, max_size=3),
    seed=st.sampled_from(["1", "-1", "1.5", '"x"', "1979-05-27"]),
)
def test_any_sweep_file_finishes_or_is_one_error_line(key, values, seed):
    with in_temporary_folder() as here:
        _base(here)
        path = here / "grid.toml"
        path.write_text(
            f'[sweep]\nbase = "base.toml"\nseed = {seed}\n[axes]\n"{key}" = {toml_value(values)}\n',
            encoding="utf-8",
        )
        code, _, err = outcome(["sweep", str(path), "--out", str(here / "s")])
        event(f"exit {code}")
        assert code in (0, 2), (key, values, code, err)
        if code == 2:
            assert err.count("\n") == 1 and err.startswith("doseesc: error: "), err
            assert not (here / "s").exists()
        else:
            assert strict_json((here / "s" / "sweep.json").read_text())["seed"] == 1


# ---------------------------------------------------------------------------------------------
# Interrupts of real processes


def _start(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "doseesc.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.parametrize("delay", [0.4, 1.1, 1.6, 2.2, 3.0])
def test_an_interrupt_at_any_moment_leaves_the_old_results_or_the_new_ones(
    results, tmp_path, signum, status, delay
):
    """From start-up to the figures and the replacement: either the run finished (exit 0, nothing on
    stderr, a complete new folder) or it ends with 130/143, one line, and the old folder as it was."""
    folder = fresh_results(results, tmp_path)
    before = snapshot(folder)
    proc = _start(["run", str(SCENARIO), "--trials", "3000", "--seed", "5", "--out", str(folder)])
    time.sleep(delay)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], err  # no temporary folder left
    if proc.returncode in (0, -signum):
        # Finished; -signum: the signal came as Python shut down, after the command returned (a shell
        # reports 128 + signum, as for the one-line exit).
        assert err == "" and ("written to" in out or proc.returncode < 0)
        assert json.loads((folder / "results.json").read_text())["seed"] == 5
    else:
        assert proc.returncode == status, err
        assert err.count("\n") == 1 and err.startswith("doseesc: interrupted"), err
        if "new results" in err:  # the signal came after the replacement: the new folder is whole
            assert json.loads((folder / "results.json").read_text())["seed"] == 5
        else:
            assert snapshot(folder) == before


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc to find the workers")
def test_workers_die_with_a_killed_parent():
    argv = ["simulate", "--design", "3+3", "--p-tox", CURVE, "--engine", "mc", "--trials", "2000000000"]
    proc = _start([*argv, "--jobs", "2"])
    workers: list[int] = []
    for _ in range(600):  # until the pool has started (or the parent has ended, e.g. on one core)
        workers = _children(proc.pid)
        if workers or proc.poll() is not None:
            break
        time.sleep(0.05)
    assert workers or (os.cpu_count() or 1) < 2  # with two cores or more, --jobs 2 starts a pool
    proc.kill()
    proc.communicate(timeout=60)
    for _ in range(600):
        if not any(_alive(w) for w in workers):
            break
        time.sleep(0.05)
    assert not any(_alive(w) for w in workers), workers


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory) -> tuple[Path, str]:
    """A sweep file of two combinations in chunks of 100 trials, and its table run uninterrupted."""
    here = tmp_path_factory.mktemp("sweep")
    (here / "base.toml").write_text(SCENARIO.read_text().replace("trials = 200000", "trials = 400"))
    sweep = here / "grid.toml"
    sweep.write_text(
        '[sweep]\nbase = "base.toml"\nseed = 3\nchunk_trials = 100\n'
        '[axes]\n"design.deescalate" = [false, true]\n'
    )
    assert outcome(["sweep", str(sweep), "--out", str(here / "clean")])[0] == 0
    return sweep, (here / "clean" / "sweep.csv").read_text()


@pytest.mark.parametrize("delay", [0.0, 0.7, 1.2, 1.7])
def test_a_sweep_killed_at_any_moment_resumes_to_the_same_table(small_sweep, tmp_path, delay):
    sweep, clean = small_sweep
    killed = tmp_path / "killed"
    proc = _start(["sweep", str(sweep), "--out", str(killed)])
    time.sleep(delay)
    proc.kill()
    proc.communicate(timeout=60)
    code, _, err = outcome(["sweep", str(sweep), "--out", str(killed)])
    assert code == 0, err
    assert (killed / "sweep.csv").read_text() == clean
