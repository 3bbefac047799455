"""Start-up time of the command line: how long a fresh ``doseesc`` process takes to answer.

    python benchmarks/bench_startup.py [--quick] [--json FILE]

For ``doseesc --version``, ``doseesc validate`` of a scenario, ``doseesc simulate --engine exact`` of
a 3+3 over six doses and ``doseesc report`` of a run folder: the wall time of a fresh process (best
of several runs: the machines are shared and noisy), and from ``python -X importtime`` the time
spent importing and the heaviest imports (cumulative microseconds as Python reports them).

Targets (issue 14): ``--version`` and ``validate`` under 0.5 s, ``simulate --engine exact`` of a 3+3
under 1 s, on a quiet machine.  ``markdown_sections`` gives the table ``run_all.py`` writes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _cli import bench_main

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "textbook_3p3.toml"
P_TOX = "0.05,0.1,0.2,0.3,0.5,0.7"
COMMANDS = {
    "doseesc --version": (["--version"], 0.5),
    "doseesc validate textbook_3p3.toml": (["validate", str(SCENARIO)], 0.5),
    "doseesc simulate --design 3+3 --engine exact (6 doses)": (
        ["simulate", "--design", "3+3", "--p-tox", P_TOX, "--engine", "exact"],
        1.0,
    ),
    "doseesc report (a run folder, HTML)": (["report", "{run}", "--out", "{out}"], None),
}
"""Command label: (arguments, target in seconds or None)."""


def _command() -> list[str]:
    """How users start doseesc: the console script beside this Python, else ``python -m``."""
    script = Path(sys.executable).with_name("doseesc")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "doseesc.cli"]


def _wall(argv: list[str], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        best = min(best, time.perf_counter() - t0)
    return best


def _imports(args: list[str], top: int = 5) -> dict[str, Any]:
    """Import time of one run (``-X importtime``): the total under ``doseesc.cli`` and after, and
    the heaviest top-level imports by cumulative time."""
    code = "import sys; from doseesc.cli import main; sys.exit(main(sys.argv[1:]))"
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, *args], capture_output=True, text=True, check=False
    )
    rows = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|")
        rows.append((name[1:], int(self_us), int(cumulative_us)))  # nested imports keep their indent
    roots = [(name, cum) for name, _, cum in rows if not name.startswith(" ")]
    total = sum(int(s) for _, s, _ in rows)
    heaviest = sorted(roots, key=lambda r: -r[1])[:top]
    return {
        "import_s": total / 1e6,
        "heaviest": [{"module": m, "cumulative_s": c / 1e6} for m, c in heaviest],
    }


def measure(quick: bool = False) -> dict[str, Any]:
    repeats = 2 if quick else 5
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="doseesc-startup-"))
    try:
        run = work / "run"
        subprocess.run(
            [*_command(), "run", str(SCENARIO), "--trials", "2000", "--out", str(run)],
            check=True,
            capture_output=True,
        )
        figures: dict[str, Any] = {"commands": {}, "repeats": repeats}
        for label, (args, target) in COMMANDS.items():
            args = [a.format(run=run, out=work / "report.html") for a in args]
            wall = _wall([*_command(), *args], repeats)
            figures["commands"][label] = {"wall_s": wall, "target_s": target, **_imports(args)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures["load_average_1min"] = {"before": load_before, "after": os.getloadavg()[0]}
    return figures


def markdown_sections(f: dict[str, Any]) -> list[str]:
    """The start-up section (Markdown lines) for ``run_all.py`` and ``print_figures``."""
    load = f["load_average_1min"]
    lines = [
        "## Start-up of the command line",
        "",
        f"Fresh process, best of {f['repeats']} runs (load average {load['before']:.2f} before, "
        f"{load['after']:.2f} after); import time and heaviest imports from `python -X importtime`.",
        "",
        "| command | wall time | of which imports | heaviest imports (cumulative) | target | met |",
        "| --- | ---: | ---: | --- | ---: | :---: |",
    ]
    for label, c in f["commands"].items():
        heavy = ", ".join(f"{h['module']} {h['cumulative_s']:.2f} s" for h in c["heaviest"][:3])
        target = "-" if c["target_s"] is None else f"< {c['target_s']:g} s"
        met = "-" if c["target_s"] is None else ("yes" if c["wall_s"] < c["target_s"] else "no")
        lines.append(
            f"| `{label}` | {c['wall_s']:.2f} s | {c['import_s']:.2f} s | {heavy} | {target} | {met} |"
        )
    return [*lines, ""]


def print_figures(f: dict[str, Any]) -> None:
    print("\n".join(markdown_sections(f)))


if __name__ == "__main__":
    bench_main(__doc__, measure, print_figures, "2 runs per command instead of 5")
