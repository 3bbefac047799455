"""Speed of the 3+3 engines, measured as ratios within one run (machines are shared and noisy).

    python benchmarks/bench_threeplusthree.py [--quick] [--memory] [--json FILE]

Prints Monte Carlo trials per second for the 6-dose scenario (de-escalation off) at 10^6 and 10^7
trials, beside (a) a plain per-trial Python loop of the same design (``tests/oracle.py``) and (b) the
floor: the time numpy's generator alone takes to draw the uniforms the engine consumes (one per
trial: the tree of paths draws a trial's whole path from one uniform, ``doseesc.engines.pathtree``).
Also the exact engine's time for 3 to 10 doses and, with ``--memory``, the peak resident memory of
10^7 and 10^8 trials in a fresh process.
Targets (issue 2): >= 5 million trials/s per core, within 8x of the floor; exact engine < 10 ms for
10 doses; 10^8 trials under 1 GiB.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _cli import bench_main

from doseesc.designs import ThreePlusThree, compile_design
from doseesc.engines import exact, simulate
from doseesc.engines.montecarlo import BLOCK_TRIALS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from oracle import simulate_one  # the independent plain loop lives with the tests

P_TOX = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7]


def best_of(fn, repeats: int) -> float:
    """Shortest wall time of ``repeats`` calls (the least disturbed by other load)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def rng_floor(n_uniforms: int) -> float:
    """Seconds numpy takes to draw ``n_uniforms`` doubles in block-sized pieces (the engine draws a
    block's at a time)."""
    gen = np.random.default_rng(0)
    buf = np.empty(min(n_uniforms, BLOCK_TRIALS))
    t0 = time.perf_counter()
    left = n_uniforms
    while left > 0:
        gen.random(out=buf[: min(left, buf.size)])
        left -= buf.size
    return time.perf_counter() - t0


def peak_memory_mib(n_trials: int) -> float:
    """Peak resident memory (MiB) of a fresh process running ``n_trials`` Monte Carlo trials.

    The child reports the high-water mark of its own memory map (``VmHWM`` in /proc/self/status) where
    Linux has it, else ``ru_maxrss``.  On Linux ``ru_maxrss`` is not the child's own figure: exec
    folds the peak of the process that spawned it into it, so a child of a large benchmark process
    would report the parent's peak.
    """
    code = (
        "import resource;from doseesc.designs import ThreePlusThree;from doseesc.engines import simulate;"
        f"simulate(ThreePlusThree(6), {P_TOX!r}, {n_trials}, seed=1);"
        "kib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        " kib=[int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM:')][0]\n"
        "except (OSError, IndexError):\n"
        " pass\n"
        "print(kib)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(out.stdout.strip()) / 1024  # KiB on Linux


def measure(quick: bool = False, memory: bool = False) -> dict:
    """Run the measurements; return the figures (the JSON written by ``--json``)."""
    design = ThreePlusThree(len(P_TOX))
    uniforms_per_trial = 1.0  # the whole path from one uniform
    simulate(design, P_TOX, 10_000, seed=0)  # compile the table, warm the caches

    loop_trials = 5_000 if quick else 20_000
    rnd = random.Random(0)
    loop_time = best_of(lambda: [simulate_one(P_TOX, rnd, False, False) for _ in range(loop_trials)], 3)
    loop_rate = loop_trials / loop_time

    rows = []
    for n in (10**5, 10**6) if quick else (10**6, 10**7):
        t_mc = best_of(lambda n=n: simulate(design, P_TOX, n, seed=1), 3 if n <= 10**6 else 2)
        t_floor = best_of(lambda n=n: rng_floor(round(n * uniforms_per_trial)), 3)
        rows.append(
            {
                "trials": n,
                "mc_seconds": t_mc,
                "mc_trials_per_s": n / t_mc,
                "speedup_vs_plain_loop": (n / t_mc) / loop_rate,
                "times_rng_floor": t_mc / t_floor,
            }
        )
    n2 = rows[-1]["trials"]
    t_one = rows[-1]["mc_seconds"]
    t_two = best_of(lambda: simulate(design, P_TOX, n2, seed=1, jobs=2), 2)

    exact_ms = {}
    for k in range(3, 11):
        d = ThreePlusThree(k, deescalate=True)
        p = np.linspace(0.05, 0.6, k)
        t_cold = best_of(lambda d=d, p=p: exact(d, p), 1)
        t_warm = best_of(lambda d=d, p=p: exact(d, p), 20)
        exact_ms[k] = {"cold_ms": 1e3 * t_cold, "warm_ms": 1e3 * t_warm, "states": compile_design(d).n_live}

    figures = {
        "scenario": P_TOX,
        "uniforms_per_trial": uniforms_per_trial,
        "plain_loop_trials_per_s": loop_rate,
        "monte_carlo": rows,
        "jobs_trials": n2,
        "jobs1_trials_per_s": n2 / t_one,
        "jobs2_trials_per_s": n2 / t_two,
        "exact_ms_deescalate": exact_ms,
    }
    if memory:
        figures["peak_rss_mib"] = {str(n): peak_memory_mib(n) for n in (10**7, 10**8)}
    return figures


def print_figures(figures: dict) -> None:
    """Print the figures of :func:`measure` as Markdown tables."""
    print(
        f"3+3, p_tox = {figures['scenario']}, de-escalation off; "
        f"{figures['uniforms_per_trial']:.2f} uniforms per trial"
    )
    print(f"plain per-trial Python loop: {figures['plain_loop_trials_per_s']:,.0f} trials/s")
    print("| trials | MC trials/s (1 core) | x plain loop | x RNG floor |")
    print("| ---: | ---: | ---: | ---: |")
    for r in figures["monte_carlo"]:
        print(
            f"| {r['trials']:.0e} | {r['mc_trials_per_s']:,.0f} | {r['speedup_vs_plain_loop']:,.0f} "
            f"| {r['times_rng_floor']:.2f} |"
        )
    print(f"jobs=2, {figures['jobs_trials']:.0e} trials: {figures['jobs2_trials_per_s']:,.0f} trials/s")
    print("| doses | states (de-escalation) | exact, first call (ms) | exact, cached table (ms) |")
    print("| ---: | ---: | ---: | ---: |")
    for k, e in figures["exact_ms_deescalate"].items():
        print(f"| {k} | {e['states']} | {e['cold_ms']:.2f} | {e['warm_ms']:.2f} |")
    for n, mib in figures.get("peak_rss_mib", {}).items():
        print(f"peak memory, {int(n):.0e} trials: {mib:,.0f} MiB")


def main() -> None:
    bench_main(__doc__, measure, print_figures, "10^5 and 10^6 trials instead of 10^6 and 10^7", memory=True)


if __name__ == "__main__":
    main()
