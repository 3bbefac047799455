"""Where users wait (issue 16): the HALPC posterior command end to end, the Monte Carlo engine under
the posterior and on a fixed curve, and the events engine with the HALPC model at low and high
accrual.

    python benchmarks/bench_waits.py [--quick] [--json FILE] [--baseline SRC]

``--baseline SRC`` also runs every workload on the doseesc source folder ``SRC`` (e.g. an export of
an earlier commit: ``git archive <commit> src | tar -x -C /tmp/base``, then ``/tmp/base/src``), in
fresh processes with ``PYTHONPATH=SRC``, so that before and after are measured in one run on one
machine; only public interfaces are used.  Every rate is CPU time of this process (best of a few
runs), which other work on a shared machine disturbs less than wall time; the command line is timed
by wall clock in fresh processes.

* ``doseesc simulate --design 3+3 --model halpc-bleeding --doses 0.3,0.6,1.2,2.5,5 --dose-unit
  1e6cells/kg --infusions 2 --interval-days 7 --engine mc --posterior --trials 200000``: cold (an
  empty cache folder) and warm (the calibration cached by the cold run).
* Monte Carlo 3+3 on the textbook curve, 10^7 trials (the best of 5 runs), each run paired with the
  time numpy takes right after it to draw the uniforms the measured code uses, into a reused buffer
  (the median ratio of the 5 pairs): one per trial (its path drawn whole, see
  ``doseesc.engines.pathtree``), or, measuring older code, one per cohort (the tree walk of commit
  4781f4f) or one per patient (before issue 16), from the exact engine's E[patients per trial].
* Monte Carlo HALPC 3+3 under the posterior (a draw per trial), 10^6 trials.
* Events engine, HALPC 3+3 with the bleeding model (``bench_events.halpc_setup``, HALPC-like
  conduct), at 2, 1 and 1,000 patients per month: the best of 5 runs of 2,000 trials per rate.

Targets: warm command < 1.5 s, cold < 3 s; posterior >= 2 M trials/s; 3+3 >= 15 M trials/s and
within 2x of its uniforms; events (HALPC) >= 5,000 trials/s, and its time per trial at 1,000
patients/month within 1.5x of that at 1 patient/month.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from _cli import bench_main

HERE = Path(__file__).resolve().parent
HALPC_COMMAND = [
    "simulate",
    "--design",
    "3+3",
    "--model",
    "halpc-bleeding",
    "--doses",
    "0.3,0.6,1.2,2.5,5",
    "--dose-unit",
    "1e6cells/kg",
    "--infusions",
    "2",
    "--interval-days",
    "7",
    "--engine",
    "mc",
    "--posterior",
    "--trials",
    "200000",
    "--seed",
    "1",
]
P_TOX = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7]
TARGETS = {
    "cli_warm_s": 1.5,
    "cli_cold_s": 3.0,
    "mc_posterior_trials_per_s": 2_000_000,
    "mc_3p3_trials_per_s": 15_000_000,
    "mc_3p3_times_uniforms": 2.0,
    "events_halpc_trials_per_s": 5_000,
    "events_fast_over_slow_accrual": 1.5,
}


def cpu_rate(fn, n: int, repeats: int) -> float:
    """Highest trials per CPU second over ``repeats`` runs of ``fn(n)``."""
    best = 0.0
    for _ in range(repeats):
        t0 = time.process_time()
        fn(n)
        best = max(best, n / (time.process_time() - t0))
    return best


def command_seconds(env: dict[str, str], repeats: int) -> float:
    """Shortest wall time of the HALPC posterior command in a fresh process."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "doseesc.cli", *HALPC_COMMAND], env=env, check=True, capture_output=True
        )
        best = min(best, time.perf_counter() - t0)
    return best


def uniforms_floor(n_uniforms: int) -> float:
    """CPU seconds numpy takes to draw ``n_uniforms`` doubles in pieces of a block (2^14)."""
    gen = np.random.default_rng(0)
    buf = np.empty(1 << 14)
    t0 = time.process_time()
    for _ in range(-(-n_uniforms // buf.size)):
        gen.random(out=buf)
    return time.process_time() - t0


def uniforms_per_trial(patients: float) -> float:
    """Uniforms a 3+3 trial of the measured doseesc draws: one (the tree of paths drawing a trial's
    path whole), else one per cohort of 3 (the tree walk of 4781f4f), else one per patient."""
    import importlib.util

    if importlib.util.find_spec("doseesc.engines.pathtree") is None:
        return patients
    from doseesc.engines import pathtree

    return 1.0 if hasattr(pathtree, "bin_bits") else patients / 3


def measure(quick: bool = False) -> dict:
    """Run the measurements on the doseesc found first on the path; return the figures."""
    import bench_events

    from doseesc.designs import ThreePlusThree
    from doseesc.engines import exact, simulate
    from doseesc.engines.events import run_events
    from doseesc.models import DoseLevels, Regimen, halpc_bleeding_model

    repeats = 2 if quick else 3
    out: dict = {}
    with tempfile.TemporaryDirectory() as cache:
        env = os.environ | {"DOSEESC_CACHE_DIR": cache}
        env.pop("DOSEESC_CACHE", None)
        out["cli_cold_s"] = command_seconds(env, 1)
        out["cli_warm_s"] = command_seconds(env, repeats)
        cold = []
        for _ in range(repeats - 1):
            for entry in Path(cache).iterdir():
                entry.unlink()
            cold.append(command_seconds(env, 1))
        out["cli_cold_s"] = min([out["cli_cold_s"], *cold])

    design = ThreePlusThree(len(P_TOX))
    patients = exact(design, P_TOX).mean_total_n
    simulate(design, P_TOX, 10_000, seed=0)
    n_mc = 10**6 if quick else 10**7
    out["mc_3p3_trials"] = n_mc
    out["uniforms_per_trial"] = uniforms_per_trial(patients)
    # Each engine run is paired with a floor measured right after it: the ratio of a pair is
    # measured under the same load, and the median pair is reported.
    pairs = []
    for _ in range(2 * repeats - 1):
        t0 = time.process_time()
        simulate(design, P_TOX, n_mc, seed=1)
        engine = time.process_time() - t0
        pairs.append((engine, uniforms_floor(round(n_mc * out["uniforms_per_trial"]))))
    out["mc_3p3_trials_per_s"] = n_mc / min(e for e, _ in pairs)
    out["mc_3p3_times_uniforms"] = float(np.median([e / f for e, f in pairs]))

    doses = DoseLevels.parse("0.3,0.6,1.2,2.5,5", "1e6cells/kg")
    posterior = halpc_bleeding_model(doses, Regimen(2, 7.0), posterior=True)
    halpc = ThreePlusThree(doses.n)
    simulate(halpc, posterior, 1_000, seed=0)  # fit (or read) the calibration, warm the caches
    n_post = 2 * 10**5 if quick else 10**6
    out["mc_posterior_trials"] = n_post
    out["mc_posterior_trials_per_s"] = cpu_rate(
        lambda n: simulate(halpc, posterior, n, seed=1), n_post, repeats
    )

    ev_design, ev_model = bench_events.halpc_setup()
    n_ev = 500 if quick else 2_000
    out["events_trials"] = n_ev
    for name, per_month in (("", None), ("_1_per_month", 1.0), ("_1000_per_month", 1000.0)):
        conduct = bench_events.CONDUCT
        if per_month is not None:
            conduct = replace(conduct, accrual_per_month=(per_month,))
        run_events(ev_design, ev_model, conduct, 50, seed=0)
        # Short runs, five of them: a trial takes ~0.2 ms, and the best run is the one other work on a
        # shared machine disturbed least (single runs of this workload ranged 3,000-6,300 trials/s).
        rate = cpu_rate(
            lambda n, c=conduct: run_events(ev_design, ev_model, c, n, seed=1), n_ev, 2 * repeats - 1
        )
        out[f"events_halpc{name}_trials_per_s"] = rate
    out["events_fast_over_slow_accrual"] = (
        out["events_halpc_1_per_month_trials_per_s"] / out["events_halpc_1000_per_month_trials_per_s"]
    )
    return out


def in_fresh_process(src: Path, quick: bool) -> dict:
    """The figures measured on the doseesc source folder ``src``, in a fresh process: ``run_all.py``
    measures the code and its baseline alike, neither after the other benchmarks in one process."""
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        args = [
            sys.executable,
            str(HERE / "bench_waits.py"),
            "--json",
            f.name,
            *(["--quick"] if quick else []),
        ]
        env = os.environ | {"PYTHONPATH": os.pathsep.join([str(src), str(HERE)])}
        subprocess.run(args, env=env, check=True, capture_output=True)
        return json.loads(Path(f.name).read_text())


UPPER_BOUNDS = {"cli_warm_s", "cli_cold_s", "mc_3p3_times_uniforms", "events_fast_over_slow_accrual"}
"""Targets that are upper bounds (times and ratios); the others are lower bounds (rates)."""


def met(name: str, value: float) -> bool:
    """Whether ``value`` meets the target of figure ``name``."""
    return value <= TARGETS[name] if name in UPPER_BOUNDS else value >= TARGETS[name]


ROWS = (
    ("cli_warm_s", "`doseesc simulate` HALPC posterior, 200,000 trials, warm cache (s, wall)", "{:.2f}"),
    ("cli_cold_s", "the same, empty cache folder (s, wall)", "{:.2f}"),
    ("mc_posterior_trials_per_s", "Monte Carlo HALPC 3+3 under the posterior (trials/s per core)", "{:,.0f}"),
    ("mc_3p3_trials_per_s", "Monte Carlo 3+3, fixed curve (trials/s per core)", "{:,.0f}"),
    ("mc_3p3_times_uniforms", "Monte Carlo 3+3 time / drawing the uniforms it uses", "{:.2f}"),
    (
        "events_halpc_trials_per_s",
        "events engine, HALPC model, 2 patients/month (trials/s per core)",
        "{:,.0f}",
    ),
    ("events_halpc_1_per_month_trials_per_s", "the same at 1 patient/month", "{:,.0f}"),
    ("events_halpc_1000_per_month_trials_per_s", "the same at 1,000 patients/month", "{:,.0f}"),
    ("events_fast_over_slow_accrual", "time per trial at 1,000 / at 1 patient/month", "{:.2f}"),
)


def markdown_rows(after: dict, before: dict | None = None) -> list[str]:
    """A Markdown table of the figures: before (when measured), after, target, met."""
    lines = [
        "| figure | before | after | target | met |" if before else "| figure | measured | target | met |",
        "| --- | ---: | ---: | ---: | :---: |" if before else "| --- | ---: | ---: | :---: |",
    ]
    for key, label, fmt in ROWS:
        target = TARGETS.get(key)
        bound = "-" if target is None else ("<= " if key in UPPER_BOUNDS else ">= ") + fmt.format(target)
        mark = "-" if target is None else ("yes" if met(key, after[key]) else "**no**")
        cells = [fmt.format(after[key]), bound, mark]
        if before:
            cells.insert(0, fmt.format(before[key]) if key in before else "-")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def markdown_section(f: dict) -> list[str]:
    """The run_all.py section: what was measured, then the table (with before when measured)."""
    before = f.get("baseline")
    return [
        "## Where users wait (issue 16)",
        "",
        "Each code measured in a fresh process. The HALPC posterior command end to end (wall clock, "
        "fresh processes; cold: empty cache folder), "
        f"Monte Carlo rates in CPU time per core ({f['mc_3p3_trials']:,} 3+3 trials, "
        f"{f['mc_posterior_trials']:,} under the posterior), the events engine with the HALPC model "
        f"({f['events_trials']:,} trials per rate). The uniforms' floor: numpy drawing the uniforms the "
        f"measured code uses into a reused buffer ({f['uniforms_per_trial']:.2f} per trial: the whole "
        "path from one uniform; the code before issue 16 drew one per patient"
        + (f", {before['uniforms_per_trial']:.2f} per trial" if before else "")
        + ")."
        + (f" Before: `{before['source']}`, measured in the same run." if before else ""),
        "",
        *markdown_rows(f, before),
        "",
    ]


def print_figures(f: dict) -> None:
    print("\n".join(markdown_rows(f, f.get("baseline"))))


def main() -> None:
    args = sys.argv[1:]
    src = None
    if "--baseline" in args:
        i = args.index("--baseline")
        src = Path(args[i + 1])
        del args[i : i + 2]
        sys.argv[1:] = args

    def run(quick: bool = False) -> dict:
        figures = measure(quick)
        if src is not None:
            figures["baseline"] = in_fresh_process(src, quick) | {"source": str(src)}
        return figures

    bench_main(__doc__, run, print_figures, "fewer trials and repeats")


if __name__ == "__main__":
    main()
