"""Events engine speed with the HALPC model against an earlier source, measured in one run (issue 16).

    python benchmarks/bench_events_baseline.py SRC [--trials N] [--rounds R] [--per-month RATE] [--json FILE]

``SRC`` is a doseesc source folder, e.g. an export of an earlier commit (``git archive <commit> src |
tar -x -C /tmp/base``, then ``/tmp/base/src``).  The workload is ``bench_waits``'s events part:
:func:`bench_events.halpc_setup` (the 3+3 with the calibrated bleeding model, heterogeneous patients)
under :data:`bench_events.CONDUCT` (HALPC-like conduct, 2 patients/month unless ``--per-month``).
Each round runs the baseline and then this checkout in fresh processes (``PYTHONPATH``), each timing
``N`` trials three times in CPU time after a warm-up; the figure per side is the best over all
rounds, the run least disturbed by other work on a shared machine, and the ratio of the two is what
carries over between machines.  The load average is printed beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"


def worker(trials: int, per_month: float) -> float:
    """Best CPU trials/s of three runs of ``trials`` HALPC trials on the doseesc first on the path."""
    import bench_events

    from doseesc.engines.events import run_events

    design, model = bench_events.halpc_setup()
    conduct = replace(bench_events.CONDUCT, accrual_per_month=per_month)
    run_events(design, model, conduct, 50, seed=0)  # warm the caches
    best = 0.0
    for _ in range(3):
        t0 = time.process_time()
        run_events(design, model, conduct, trials, seed=1)
        best = max(best, trials / (time.process_time() - t0))
    return best


def rate_of(src: Path, trials: int, per_month: float) -> float:
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(src), str(HERE)])}
    args = [sys.executable, __file__, "--worker", "--trials", str(trials), "--per-month", str(per_month)]
    out = subprocess.run(args, env=env, check=True, capture_output=True, text=True)
    return float(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("baseline", type=Path, nargs="?", help="the earlier doseesc source folder")
    ap.add_argument("--trials", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--per-month", type=float, default=2.0)
    ap.add_argument("--json", type=Path, help="write the figures to this JSON file")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(worker(args.trials, args.per_month))
        return
    if args.baseline is None:
        ap.error("the baseline source folder SRC is required")
    before = after = 0.0
    for _ in range(args.rounds):
        before = max(before, rate_of(args.baseline, args.trials, args.per_month))
        after = max(after, rate_of(SRC, args.trials, args.per_month))
    figures = {
        "trials": args.trials,
        "rounds": args.rounds,
        "per_month": args.per_month,
        "baseline_trials_per_s": before,
        "trials_per_s": after,
        "speedup": after / before,
        "load_average": os.getloadavg()[0],
    }
    print(
        f"events engine, HALPC model, accrual {args.per_month:g}/month, {args.trials:,} trials, best of "
        f"{args.rounds} rounds x 3 (CPU time): baseline {before:,.0f} trials/s, this checkout "
        f"{after:,.0f} trials/s ({after / before:.2f}x); load average {figures['load_average']:.1f}"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
