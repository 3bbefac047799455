"""Make the scalar reference ``tests/oracle.py`` importable whatever pytest's import mode, keep the
tests away from the user's cache folder, and run the commands several test files read once per
session (:func:`scenario_run`, :func:`compare_3p3`): drawing a results folder's figures costs about
a second of CPU per run."""

import contextlib
import io
import os
import sys
import tempfile
from pathlib import Path

import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

# Tests never read or fill the user's cache folder (doseesc.cache): a fresh one per session.
os.environ["DOSEESC_CACHE_DIR"] = tempfile.mkdtemp(prefix="doseesc-test-cache-")

ROOT = Path(HERE).parent


def _command(argv: list[str]) -> str:
    """What ``doseesc ARGV`` prints, run in this process; it must succeed."""
    from doseesc.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    return out.getvalue()


class ScenarioRuns:
    """``runs(path)``: the results folder ``out`` (alone in its own folder) and the printed summary
    of ``doseesc run PATH --out out`` with :attr:`options`, run once per session.  Tests must not
    change the folder: one that does works on a copy."""

    options = ("--trials", "64", "--seed", "1")

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self.factory = factory
        self.done: dict[Path, tuple[Path, str]] = {}

    def __call__(self, path: Path) -> tuple[Path, str]:
        if path not in self.done:
            folder = self.factory.mktemp(path.stem) / "out"
            self.done[path] = folder, _command(["run", str(path), "--out", str(folder), *self.options])
        return self.done[path]


@pytest.fixture(scope="session")
def scenario_run(tmp_path_factory: pytest.TempPathFactory) -> ScenarioRuns:
    return ScenarioRuns(tmp_path_factory)


@pytest.fixture(scope="session")
def compare_3p3(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The folder and printed table of ``doseesc compare`` of the textbook 3+3 with and without
    de-escalation (default engines), run once per session; tests must not change the folder."""
    folder = tmp_path_factory.mktemp("compare") / "cmp"
    a, b = (ROOT / "scenarios" / f"{n}.toml" for n in ("textbook_3p3", "textbook_3p3_deescalate"))
    return folder, _command(["compare", str(a), str(b), "--out", str(folder)])
