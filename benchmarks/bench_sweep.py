"""Sweep throughput with 1 and 2 local worker processes, and the overhead per combination.

    python benchmarks/bench_sweep.py [--trials N]

Scenario: the 6-dose textbook 3+3 (p_tox 0.05, 0.1, 0.2, 0.3, 0.5, 0.7), Monte Carlo engine only.
"one big" is one combination of N trials in chunks of N/8; "many tiny" is 64 combinations (64
curves on the axis "toxicity.p_dlt", the same curve scaled by 0.9 to 1.1) of N/64 trials, one unit
each: the same trials in all, so the difference per unit is the sweep's overhead (validation,
pickling, a unit file written per unit, the merge).  Machines are shared and noisy; the ratios within
one run are what matter.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from doseesc.sweep import load_sweep, local_runner, run_sweep, units_of

BASE = """
[design]
name = "3+3"

[toxicity]
model = "table"
p_dlt = [0.05, 0.10, 0.20, 0.30, 0.50, 0.70]

[run]
engines = ["mc"]
trials = {trials}
"""


def sweep_file(folder: Path, name: str, trials: int, chunk: int, combos: int) -> Path:
    base = folder / f"{name}_base.toml"
    base.write_text(BASE.replace("{trials}", str(trials)))
    curves = [
        [round(p * (0.9 + 0.2 * k / max(combos - 1, 1)), 4) for p in (0.05, 0.1, 0.2, 0.3, 0.5, 0.7)]
        for k in range(combos)
    ]
    path = folder / f"{name}.toml"
    path.write_text(
        f'[sweep]\nbase = "{base.name}"\nseed = 1\nchunk_trials = {chunk}\n'
        f'[axes]\n"toxicity.p_dlt" = {curves}\n'
    )
    return path


def measure(path: Path, jobs: int, out: Path) -> tuple[float, int, int]:
    t = time.perf_counter()  # validation of every combination included
    sweep = load_sweep(path)
    outcome = run_sweep(sweep, out, runner=local_runner(jobs), figures=False)
    elapsed = time.perf_counter() - t
    assert not outcome.failures
    return elapsed, len(sweep.combinations), len(units_of(sweep, 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=1_600_000, help="trials in all, per case")
    args = ap.parse_args()
    n = args.trials
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases = {
            "one big": sweep_file(folder, "big", n, n // 8, 1),
            "many tiny": sweep_file(folder, "tiny", n // 64, n // 64, 64),
        }
        for case, path in cases.items():
            for jobs in (1, 2):
                elapsed, combos, units = measure(path, jobs, folder / f"out-{case}-{jobs}".replace(" ", "_"))
                rows.append((case, jobs, combos, units, elapsed))
    print("| case | workers | combinations | units | trials | seconds | trials/s | ms per unit |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for case, jobs, combos, units, elapsed in rows:
        print(
            f"| {case} | {jobs} | {combos} | {units} | {n:,} | {elapsed:.2f} | {n / elapsed:,.0f} | "
            f"{1000 * elapsed / units:.1f} |"
        )
    big = {j: e for c, j, _, _, e in rows if c == "one big"}
    tiny = {j: e for c, j, _, _, e in rows if c == "many tiny"}
    for j in (1, 2):
        print(
            f"\noverhead per combination, {j} worker(s): "
            f"{1000 * (tiny[j] - big[j]) / 64:.1f} ms (many tiny minus one big, over 64 combinations)",
            end="",
        )
    print(f"\nspeed-up with 2 workers: one big {big[1] / big[2]:.2f}x, many tiny {tiny[1] / tiny[2]:.2f}x")


if __name__ == "__main__":
    main()
