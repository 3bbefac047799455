"""The TITE-CRM against the 3+3 and the CRM in calendar time, with competing risks.

    python examples/tite_calendar_time.py [--trials 400] [--seed 1]

One curve (P(DLT) 0.05, 0.1, 0.2, 0.3, 0.5, 0.7; target 0.3), the same conduct for the three designs:
Poisson accrual of 6 patients per month, a 28-day DLT window with DLTs at uniform times, and the
competing exits of liver-failure patients (62.5% with ACLF as in HALPC; CANONIC's day-28 and month-3
risks, doseesc.conduct): a patient who dies or has a transplant before a DLT is not evaluable and is
replaced.  The 3+3 and the
CRM (cohorts of 3, N = 24) run in the events engine, which waits for each cohort's windows; the
TITE-CRM (one by one, N = 24) in its own calendar-time engine, which enrols on arrival.
"""

from __future__ import annotations

import argparse

import numpy as np

from doseesc.conduct import Conduct, DiseaseCourse
from doseesc.designs.aplusb import APlusB
from doseesc.designs.crm import CRM
from doseesc.designs.tite import TITECRM
from doseesc.engines.events import run_events
from doseesc.engines.tite import simulate_tite

P = np.array([0.05, 0.1, 0.2, 0.3, 0.5, 0.7])
SKELETON = (0.05, 0.12, 0.25, 0.4, 0.55, 0.7)
DAYS_PER_MONTH = 365.25 / 12


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    conduct = Conduct(accrual_per_month=6.0, window_days=28.0, disease=DiseaseCourse())
    rows = []
    for label, design in (
        ("3+3", APlusB(6)),
        ("CRM, cohorts of 3, N = 24", CRM(6, target=0.3, skeleton=SKELETON, cohort_size=3, max_n=24)),
    ):
        r = run_events(design, P, conduct, args.trials, seed=args.seed, target=0.3)
        months = r.durations / DAYS_PER_MONTH
        rows.append((label, r.oc, float(np.mean(months)), float(np.quantile(months, 0.9))))
    tite = simulate_tite(
        TITECRM(6, target=0.3, skeleton=SKELETON, max_n=24),
        P,
        conduct,
        args.trials,
        seed=args.seed,
        target=0.3,
    )
    m = tite.extras["duration_months"]
    rows.append(("TITE-CRM, one by one, N = 24", tite, m["mean"], m["p90"]))
    print(f"{args.trials} trials per design, seed {args.seed}; true MTD: dose 4 (P(DLT) 0.3)")
    print(
        f"{'design':32s} {'P(correct)':>11s} {'mean N':>7s} {'mean DLTs':>9s} {'months':>7s} {'90th pct':>8s}"
    )
    for label, oc, mean, p90 in rows:
        print(
            f"{label:32s} {oc.metrics['p_correct']:11.3f} {oc.mean_total_n:7.1f} {oc.mean_total_dlt:9.2f} "
            f"{mean:7.1f} {p90:8.1f}"
        )


if __name__ == "__main__":
    main()
