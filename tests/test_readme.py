"""The README's two commands are the ones that CI and users run."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci_lines = [
        ln
        for ln in (ROOT / ".ci" / "run").read_text().splitlines()
        if ln and not ln.startswith(("#", "set ", "cd ", "command -v chromium"))
    ]
    assert len(ci_lines) == 1
    assert ci_lines[0] in readme.splitlines()
    assert "pytest" in ci_lines[0]


def test_readme_first_command_installs_and_simulates():
    blocks = (ROOT / "README.md").read_text().split("```sh\n")
    first = blocks[1].split("\n```")[0]
    assert "pip install ." in first and "doseesc simulate" in first
