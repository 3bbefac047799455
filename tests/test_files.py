"""Result files are written whole, with ordinary permissions, and never over a device."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from doseesc.files import FileError, atomic_file, plain, write_text
from doseesc.output import save_figure, write_csv, write_json
from doseesc.results import json_ready
from doseesc.sweep import load_sweep, run_sweep

SCENARIO = """
[scenario]
name = "tiny"

[design]
name = "3+3"

[toxicity]
model = "table"
p_dlt = [0.05, 0.10, 0.25, 0.40]

[run]
engines = ["exact", "mc"]
trials = 200
seed = 3
"""

SWEEP = """
[sweep]
name = "tiny_modes"
base = "base.toml"
seed = 2

[axes]
"design.deescalate" = [false, true]
"""


@pytest.fixture
def umask_022():
    """Run the test under the usual umask, whatever the caller's, and restore it."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_result_files_are_readable_by_others(tmp_path, umask_022):
    write_json(tmp_path / "r.json", {"p": np.array([0.5, np.nan])})
    write_csv(tmp_path / "r.csv", ("a", "b"), [[1, 2.5]])
    fig = Figure()
    fig.add_subplot().plot([0, 1], [0, 1])
    names = save_figure(fig, tmp_path, "fig")
    for name in ["r.json", "r.csv", *names]:
        assert mode(tmp_path / name) == 0o644, name
    assert (tmp_path / "r.json").read_text() == '{\n "p": [\n  0.5,\n  null\n ]\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png", "fig.svg", "r.csv", "r.json"]


def test_sweep_files_are_readable_by_others(tmp_path, umask_022):
    (tmp_path / "base.toml").write_text(SCENARIO)
    (tmp_path / "grid.toml").write_text(SWEEP)
    out = tmp_path / "out"
    outcome = run_sweep(load_sweep(tmp_path / "grid.toml"), out)
    assert not outcome.failures
    written = [p for p in out.rglob("*") if p.is_file()]
    names = {p.name for p in written}
    assert {"sweep.csv", "sweep.json", "sweep-state.json", "sweep_selection.png"} <= names
    assert any(p.parent.name == "units" for p in written)
    for p in written:
        assert mode(p) == 0o644, p


def test_replacing_a_file_keeps_it_whole(tmp_path):
    target = tmp_path / "a.txt"
    write_text(target, "old\n")
    with pytest.raises(RuntimeError), atomic_file(target) as f:
        f.write("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]  # no temporary file left
    write_text(target, "new\n")
    assert target.read_text() == "new\n"


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="needs /dev/null")
def test_a_device_is_never_replaced():
    before = os.stat("/dev/null")
    with pytest.raises(ValueError, match="/dev/null"):
        write_text(Path("/dev/null"), "x")
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino


def test_a_folder_is_not_a_file_to_replace(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(ValueError, match="is not a regular file"):
        write_csv(tmp_path / "d", ("a",), [])


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("missing/a.txt", "No such file or directory"),
        ("file/a.txt", "is not a folder"),
        ("x" * 300, "too long"),
    ],
)
def test_an_os_error_is_one_line_naming_the_path(tmp_path, name, reason):
    (tmp_path / "file").write_text("mine")
    target = tmp_path / name
    with pytest.raises(FileError) as error:
        write_text(target, "x")
    message = str(error.value)
    assert message.startswith(str(target)) and reason in message and "\n" not in message
    assert (
        sorted(p.name for p in tmp_path.iterdir()) == ["file"] and (tmp_path / "file").read_text() == "mine"
    )


def test_a_name_that_nearly_fills_the_limit_is_written(tmp_path):
    target = tmp_path / ("n" * 250)  # its temporary name is cut to fit the 255 bytes
    write_text(target, "x")
    assert target.read_text() == "x" and [p.name for p in tmp_path.iterdir()] == [target.name]


def test_plain_then_json_ready():
    value = {1: (np.float64(0.5), np.int64(2)), "x": np.array([[1.0, np.inf]])}
    assert json_ready(plain(value)) == {"1": [0.5, 2], "x": [[1.0, None]]}
    assert type(plain(np.float32(0.25))) is float
