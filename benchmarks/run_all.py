"""Run every benchmark; write ``benchmarks/results/latest.json`` and ``latest.md`` (Markdown tables).

    python benchmarks/run_all.py [--quick] [--out DIR] [--baseline SRC]

Collects, in one process (and fresh subprocesses for peak memory and issue 16's figures):

* the 3+3 Monte Carlo engine at 10^6 and 10^7 trials, against a plain per-trial Python loop and
  the random-number floor, the exact engine for 3 to 10 doses, and the peak resident memory of
  10^7 and 10^8 trials (``bench_threeplusthree.py``);
* heterogeneous patients (the HALPC bleeding model) without and with posterior draws, accelerated
  titration with ``simulate`` and ``simulate_courses`` (``bench_models.py``);
* the discrete-event engine, beside a bare simpy sketch, and with the HALPC model
  (``bench_events.py``);
* scaling with 1 and 2 worker processes for each engine;
* where users wait (issue 16): the HALPC posterior command cold and warm, the Monte Carlo engine
  under the posterior and on a fixed curve against its uniforms, the events engine with the HALPC
  model at 1 and 1,000 patients/month (``bench_waits.py``, in a fresh process; with ``--baseline
  SRC`` the same figures for another source folder, e.g. an export of an earlier commit, measured in
  the same run, also in a fresh process);
* the model-assisted interval designs BOIN, Keyboard, mTPI-2 and i3+3: exact operating
  characteristics from a cold start (table compiled in the call) for N = 30 and 36 in cohorts of 3
  and N = 6 to 18 in cohorts of 1, the largest N computed within 60 s (a bounded search, 180 s at
  most, extrapolating where it stops short), and BOIN's Monte Carlo (``bench_designs.py``);
* the model-based designs CRM and BLRM-EWOC: exact from a cold start for N = 30 in cohorts of 3, and
  the Monte Carlo engine for that size and for N = 60 in cohorts of 1 (``bench_model_based.py``);
* the command line's start-up: ``--version``, ``validate``, ``simulate --engine exact``, ``report``
  (``bench_startup.py``).

Targets (issue 7): at least 5 million 3+3 trials/s and 500 events-engine trials/s per core.
Targets (model-assisted interval designs): exact < 1 s for N = 30 and < 5 s for N = 36 (cohorts of
3), < 10 s for cohorts of 1 up to N = 18; BOIN Monte Carlo at least 2 million trials/s per core.
Targets (model-based designs): exact N = 30 CRM < 2 s, BLRM < 20 s; Monte Carlo CRM at least
200,000 and BLRM 20,000 trials/s per core.
Machines are shared and noisy: every figure is the best of a few runs, and ratios within one run
are the more stable figures.  ``--quick`` (about 10x fewer trials, no 10^8 memory run, a 30 s
search for the largest N) is for trying the script, not for the record.  A full run takes six to
eight minutes on 2 cores (three to four of them for the designs, mostly the largest-N search).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_designs  # noqa: E402
import bench_events  # noqa: E402
import bench_model_based  # noqa: E402
import bench_models  # noqa: E402
import bench_startup  # noqa: E402
import bench_threeplusthree  # noqa: E402
import bench_waits  # noqa: E402

TARGET_MC_PER_CORE = 5_000_000
TARGET_EVENTS_PER_CORE = 500
COMMAND = "python benchmarks/run_all.py"


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "commit": commit,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def run(quick: bool, baseline: Path | None = None) -> dict:
    t0 = time.perf_counter()
    load_before = os.getloadavg()[0]
    figures = {
        "command": COMMAND + (" --quick" if quick else ""),
        "quick": quick,
        "machine": machine(),
        "targets": {
            "mc_3plus3_trials_per_s_per_core": TARGET_MC_PER_CORE,
            "events_trials_per_s_per_core": TARGET_EVENTS_PER_CORE,
            "designs": {
                "exact_n30_cold_s": bench_designs.TARGET_EXACT_N30_S,
                "exact_n36_cold_s": bench_designs.TARGET_EXACT_N36_S,
                "exact_cohort1_n18_cold_s": bench_designs.TARGET_EXACT_COHORT1_S,
                "mc_boin_trials_per_s_per_core": bench_designs.TARGET_MC_PER_CORE,
            },
        },
    }
    print("3+3 Monte Carlo and exact engines ...", flush=True)
    figures["threeplusthree"] = bench_threeplusthree.measure(quick=quick, memory=False)
    print("models: heterogeneous patients, posterior, accelerated titration ...", flush=True)
    figures["models"] = bench_models.measure(quick=quick)
    print("events engine ...", flush=True)
    figures["events"] = bench_events.measure(quick=quick)
    print(
        "model-assisted interval designs: exact from a cold start, largest N, BOIN Monte Carlo ...",
        flush=True,
    )
    figures["designs"] = bench_designs.measure(quick=quick)
    print("model-based designs: CRM and BLRM, exact and Monte Carlo ...", flush=True)
    figures["model_based"] = bench_model_based.measure(quick=quick)
    print("start-up of the command line ...", flush=True)
    figures["startup"] = bench_startup.measure(quick=quick)
    print("where users wait (issue 16) ...", flush=True)
    # In fresh processes, the code and its baseline alike.
    figures["waits"] = bench_waits.in_fresh_process(HERE.parent / "src", quick)
    if baseline is not None:
        before = bench_waits.in_fresh_process(baseline, quick)
        figures["waits"]["baseline"] = before | {"source": str(baseline)}
    print("peak memory (fresh processes) ...", flush=True)
    sizes = (10**6, 10**7) if quick else (10**7, 10**8)
    figures["peak_rss_mib"] = {str(n): bench_threeplusthree.peak_memory_mib(n) for n in sizes}
    figures["seconds"] = time.perf_counter() - t0
    # 1-minute load averages: above about 1 before the run, other work shared the cores, and the
    # jobs=2 figures understate the scaling.
    figures["load_average_1min"] = {"before": load_before, "after": os.getloadavg()[0]}
    return figures


def _met(value: float, target: float) -> str:
    return "yes" if value >= target else "**no**"


def markdown(f: dict) -> str:
    m, t33, mod, ev = f["machine"], f["threeplusthree"], f["models"], f["events"]
    mc = t33["monte_carlo"]
    big = mc[-1]
    lines = [
        "# Benchmarks",
        "",
        f"`{f['command']}` on {m['date']}, commit {m['commit']}: {m['cpu']}, {m['cores']} cores, "
        f"Python {m['python']}, numpy {m['numpy']}; {f['seconds']:.0f} s in all; 1-minute load average "
        f"{f['load_average_1min']['before']:.2f} before the run, {f['load_average_1min']['after']:.2f} after "
        "(the run itself adds about 1; more means other work shared the cores). Rates are the best of a "
        "few runs in one process (one core) unless a number of worker processes is given.",
        "",
        "## Targets",
        "",
        "| figure | measured | target | met |",
        "| --- | ---: | ---: | :---: |",
        f"| Monte Carlo 3+3 trials/s per core ({big['trials']:.0e} trials) | {big['mc_trials_per_s']:,.0f} "
        f"| {TARGET_MC_PER_CORE:,} | {_met(big['mc_trials_per_s'], TARGET_MC_PER_CORE)} |",
        f"| events engine trials/s per core (3+3, table model) | {ev['events_trials_per_s']:,.0f} "
        f"| {TARGET_EVENTS_PER_CORE:,} | {_met(ev['events_trials_per_s'], TARGET_EVENTS_PER_CORE)} |",
        f"| events engine trials/s per core (HALPC model, heterogeneous patients) "
        f"| {ev['halpc_events_trials_per_s']:,.0f} | {TARGET_EVENTS_PER_CORE:,} "
        f"| {_met(ev['halpc_events_trials_per_s'], TARGET_EVENTS_PER_CORE)} |",
        *bench_designs.target_rows(f["designs"]),
        *bench_model_based.target_rows(f["model_based"]),
        "",
        "## Monte Carlo 3+3",
        "",
        f"6 doses, p_tox = {', '.join(f'{p:g}' for p in t33['scenario'])}, de-escalation off: "
        f"{t33['uniforms_per_trial']:.2f} uniform per trial (the tree of paths draws a trial's whole path "
        f"from one). Plain loop: `tests/oracle.py`'s per-trial Python loop, "
        f"{t33['plain_loop_trials_per_s']:,.0f} trials/s. RNG floor: the time numpy's generator alone "
        "takes to draw the uniforms.",
        "",
        "| trials | trials/s (1 core) | x plain loop | x RNG floor |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for r in mc:
        lines.append(
            f"| 10^{round(np.log10(r['trials']))} | {r['mc_trials_per_s']:,.0f} "
            f"| {r['speedup_vs_plain_loop']:,.0f} | {r['times_rng_floor']:.2f} |"
        )
    lines += [
        "",
        "## Exact engine (3+3 with de-escalation)",
        "",
        "First call: compiling the rule into its table, then the exact walk; later calls reuse the table.",
        "",
        "| doses | states | first call (ms) | cached table (ms) |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for k, e in t33["exact_ms_deescalate"].items():
        lines.append(f"| {k} | {e['states']} | {e['cold_ms']:.2f} | {e['warm_ms']:.2f} |")
    n_mc, n_c = mod["trials_mc"], mod["trials_courses"]
    p33 = big["mc_trials_per_s"]
    model_rows = [
        (
            "HALPC 3+3 (5 doses, 2 infusions), heterogeneous patients, fixed parameters",
            n_mc,
            mod["halpc_fixed_trials_per_s"],
        ),
        (
            "HALPC 3+3, heterogeneous patients, posterior draw per trial",
            n_mc,
            mod["halpc_posterior_trials_per_s"],
        ),
        (
            "accelerated titration design 2, latent model (24 levels), `simulate`",
            n_mc,
            mod["atd2_latent_simulate_trials_per_s"],
        ),
        (
            "NCT05727722 hybrid (4 doses), graded table, `simulate`",
            n_mc,
            mod["nct05727722_table_simulate_trials_per_s"],
        ),
        (
            "accelerated titration design 2, latent model, `simulate_courses` (3 courses)",
            n_c,
            mod["atd2_latent_courses_trials_per_s"],
        ),
        (
            "accelerated titration design 4, latent model, `simulate_courses` (3 courses)",
            n_c,
            mod["atd4_latent_courses_trials_per_s"],
        ),
    ]
    lines += [
        "",
        "## Richer models (Monte Carlo)",
        "",
        "| workload | trials | trials/s (1 core) | x 3+3 table model |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, n, r in model_rows:
        lines.append(f"| {name} | 10^{round(np.log10(n))} | {r:,.0f} | {r / p33:.3f} |")
    lines += [
        "",
        "## Events engine (calendar time)",
        "",
        "HALPC-like conduct (`Conduct.halpc`: screening up to 7 days, 2 infusions 7 days apart, 28-day "
        "window, ACLF/AD deaths) at 2 patients/month, 20% screen failures, 14 days of waiting at most, "
        f"7-day sentinel stagger, half the DLTs halting dosing for 14 days; a trial lasts "
        f"{ev['mean_duration_days']:.0f} days on average and doses {ev['mean_dosed']:.1f} patients. "
        "The bare sketch is a minimal simpy 3+3 (Poisson accrual, fixed 28-day window, nothing else).",
        "",
        "| workload | trials | trials/s (1 core) |",
        "| --- | ---: | ---: |",
        f"| events engine, 3+3 over 6 doses, table model | {ev['events_trials']:,} "
        f"| {ev['events_trials_per_s']:,.0f} |",
        f"| bare simpy sketch of the same 3+3 | {ev['events_trials']:,} "
        f"| {ev['bare_sketch_trials_per_s']:,.0f} |",
        f"| events engine, HALPC 3+3 over 0.3-5e6 cells/kg, bleeding model, heterogeneous patients "
        f"| {ev['halpc_trials']:,} | {ev['halpc_events_trials_per_s']:,.0f} |",
        "",
        "## Scaling with worker processes",
        "",
        f"Same seed, same result whatever the number of processes; the machine has {m['cores']} cores.",
        "",
        "| workload | trials | jobs=1 (trials/s) | jobs=2 (trials/s) | speed-up |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    scaling = [
        ("Monte Carlo 3+3", t33["jobs_trials"], t33["jobs1_trials_per_s"], t33["jobs2_trials_per_s"]),
        (
            "Monte Carlo HALPC, fixed parameters (chunks of 2^18)",
            n_mc,
            mod["halpc_fixed_jobs1_trials_per_s"],
            mod["halpc_fixed_jobs2_trials_per_s"],
        ),
        ("events engine, table model", ev["jobs_trials"], ev["jobs1_trials_per_s"], ev["jobs2_trials_per_s"]),
    ]
    for name, n, r1, r2 in scaling:
        lines.append(f"| {name} | {n:,} | {r1:,.0f} | {r2:,.0f} | {r2 / r1:.2f}x |")
    lines += [
        "",
        "## Peak memory",
        "",
        "A fresh process runs the 3+3 Monte Carlo (6 doses, chunks of 2^20 trials) and reports its own peak "
        "resident memory (`VmHWM`; `ru_maxrss` where /proc is missing), interpreter and numpy included.",
        "",
        "| trials | peak resident memory (MiB) |",
        "| ---: | ---: |",
    ]
    for n, mib in f["peak_rss_mib"].items():
        lines.append(f"| 10^{round(np.log10(int(n)))} | {mib:,.0f} |")
    lines += ["", *bench_designs.markdown_sections(f["designs"])]
    lines += ["", *bench_model_based.markdown_sections(f["model_based"])]
    lines += ["", *bench_startup.markdown_sections(f["startup"])]
    lines += ["", *bench_waits.markdown_section(f["waits"])]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="about 10x fewer trials (a trial run of the script)")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="folder for latest.json and latest.md")
    ap.add_argument("--baseline", type=Path, help="also measure bench_waits.py on this doseesc source folder")
    args = ap.parse_args()
    figures = run(args.quick, args.baseline)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(figures, indent=2) + "\n")
    text = markdown(figures)
    (args.out / "latest.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
