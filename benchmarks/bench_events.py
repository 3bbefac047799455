"""Speed of the discrete-event (simpy) engine, beside a bare simpy sketch measured in the same run.

    python benchmarks/bench_events.py [--quick] [--json FILE]

Scenario: the 6-dose 3+3 (classic) with p_tox = 0.05, 0.1, 0.2, 0.3, 0.5, 0.7 and HALPC-like conduct,
:meth:`doseesc.conduct.Conduct.halpc` (docs/sources.md: screening up to 7 days, 2 infusions 7 days apart, a
28-day window, DLTs within 72 h of an infusion, ACLF/AD deaths from CANONIC's hazards with 15/24 ACLF)
plus assumptions for what the paper does not give: 2 patients per month, 20% screen failures, 14 days
of waiting at most, a 7-day sentinel stagger, and half of the DLTs halting dosing for a 14-day review.

The reference is a bare simpy sketch of the same 3+3 (:func:`bare_sketch_trial`): an accrual process
with Poisson arrivals at the same rate, one process per patient taking a slot from a ``simpy.Store``,
a fixed 28-day window and the 3+3 decision on each completed cohort; no screening, waiting limit,
stagger, infusions, competing risks, halts or records.  Machines are shared and noisy, so the figures
that matter are the ratios within one run.  Targets (issue 5): >= 1,000 events-engine trials/s per
core, within 4x of the sketch; scaling with worker processes.  The HALPC figure against an earlier
source, in one run: ``benchmarks/bench_events_baseline.py``.
"""

from __future__ import annotations

import random
import time

import simpy
from _cli import bench_main

from doseesc.conduct import DAYS_PER_MONTH, Conduct
from doseesc.designs import ThreePlusThree
from doseesc.engines.events import run_events

P_TOX = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7]
ACCRUAL_PER_MONTH = 2.0
CONDUCT = Conduct.halpc(
    ACCRUAL_PER_MONTH,
    screen_failure=0.2,
    max_wait_days=14.0,
    stagger_days=7.0,
    halt_probability=0.5,
    halt_days=14.0,
)


def bare_sketch_trial(rng: random.Random) -> int:
    """One 3+3 trial in idiomatic simpy; returns the selected dose index (-1: none)."""
    env = simpy.Environment()
    slots = simpy.Store(env)
    done = env.event()
    rate = ACCRUAL_PER_MONTH / DAYS_PER_MONTH
    trial = {"dose": 0, "n": 0, "y": 0, "results": 0, "cohort_y": 0}

    def open_cohort() -> None:
        trial["results"] = trial["cohort_y"] = 0
        for _ in range(3):
            slots.put(trial["dose"])

    def decide() -> None:
        trial["n"] += 3
        trial["y"] += trial["cohort_y"]
        d = trial["dose"]
        if trial["y"] >= 2:
            done.succeed(d - 1)
        elif trial["n"] == 3 and trial["y"] == 1:
            open_cohort()
        elif d == len(P_TOX) - 1:
            done.succeed(d)
        else:
            trial.update(dose=d + 1, n=0, y=0)
            open_cohort()

    def patient():
        dose = yield slots.get()
        yield env.timeout(CONDUCT.window_days)
        trial["cohort_y"] += rng.random() < P_TOX[dose]
        trial["results"] += 1
        if trial["results"] == 3 and not done.triggered:
            decide()

    def accrual():
        while True:
            yield env.timeout(rng.expovariate(rate))
            env.process(patient())

    open_cohort()
    env.process(accrual())
    return env.run(until=done)


def best_rate(fn, n: int, repeats: int) -> float:
    """Highest trials/s over ``repeats`` runs of ``fn(n)`` (the least disturbed by other load)."""
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(n)
        best = max(best, n / (time.perf_counter() - t0))
    return best


def halpc_setup():
    """The HALPC redesign for the events engine: a 3+3 over 0.3-5e6 cells/kg, 2 infusions 7 days
    apart, the calibrated bleeding model with heterogeneous patients (posterior medians, no posterior
    draws), so that every dosed patient's covariates are drawn through the model."""
    from doseesc.models import DoseLevels, Regimen, halpc_bleeding_model

    doses = DoseLevels.parse("0.3,0.6,1.2,2.5,5", "1e6cells/kg")
    model = halpc_bleeding_model(doses, Regimen(CONDUCT.infusions, CONDUCT.interval_days))
    return ThreePlusThree(doses.n), model


def measure(quick: bool = False) -> dict:
    """Run the measurements; return the figures (the JSON written by ``--json``)."""
    design = ThreePlusThree(len(P_TOX))
    n1, n2, repeats = (2_000, 8_000, 2) if quick else (10_000, 40_000, 3)
    run_events(design, P_TOX, CONDUCT, 500, seed=0)  # compile the table, warm the caches

    events_rate = best_rate(lambda n: run_events(design, P_TOX, CONDUCT, n, seed=1), n1, repeats)
    rng = random.Random(1)
    sketch_rate = best_rate(lambda n: [bare_sketch_trial(rng) for _ in range(n)], n1, repeats)
    jobs_repeats = 1 if quick else 2
    jobs1_rate = best_rate(lambda n: run_events(design, P_TOX, CONDUCT, n, seed=1), n2, jobs_repeats)
    jobs2_rate = best_rate(lambda n: run_events(design, P_TOX, CONDUCT, n, seed=1, jobs=2), n2, jobs_repeats)
    result = run_events(design, P_TOX, CONDUCT, n1, seed=1)

    halpc_design, halpc_model = halpc_setup()
    run_events(halpc_design, halpc_model, CONDUCT, 50, seed=0)
    n3 = n1 // 10
    halpc_rate = best_rate(lambda n: run_events(halpc_design, halpc_model, CONDUCT, n, seed=1), n3, repeats)

    return {
        "scenario": {"p_tox": P_TOX, "conduct": CONDUCT.to_dict()},
        "events_trials": n1,
        "events_trials_per_s": events_rate,
        "bare_sketch_trials_per_s": sketch_rate,
        "sketch_over_events": sketch_rate / events_rate,
        "jobs_trials": n2,
        "jobs1_trials_per_s": jobs1_rate,
        "jobs2_trials_per_s": jobs2_rate,
        "jobs2_speedup": jobs2_rate / jobs1_rate,
        "halpc_trials": n3,
        "halpc_events_trials_per_s": halpc_rate,
        "mean_duration_days": result.duration.mean,
        "mean_dosed": result.counts["dosed"].mean,
        "mean_screened": result.counts["screened"].mean,
    }


def print_figures(figures: dict) -> None:
    """Print the figures of :func:`measure`."""
    n1, n2 = figures["events_trials"], figures["jobs_trials"]
    print(f"3+3, 6 doses, p_tox = {P_TOX}; HALPC-like conduct at {ACCRUAL_PER_MONTH:g} patients/month")
    print(
        f"(a trial lasts {figures['mean_duration_days']:.0f} days on average and doses "
        f"{figures['mean_dosed']:.1f} patients, {figures['mean_screened']:.1f} screened)"
    )
    print("| engine | trials/s (1 core) |")
    print("| --- | ---: |")
    print(f"| events engine (`run_events`), {n1:,} trials | {figures['events_trials_per_s']:,.0f} |")
    print(f"| bare simpy 3+3 sketch, {n1:,} trials | {figures['bare_sketch_trials_per_s']:,.0f} |")
    print(
        f"| events engine, HALPC bleeding model (heterogeneous patients), {figures['halpc_trials']:,} "
        f"trials | {figures['halpc_events_trials_per_s']:,.0f} |"
    )
    print(f"sketch / events engine: {figures['sketch_over_events']:.2f}x (target: at most 4x)")
    print(
        f"{n2:,} trials: jobs=1 {figures['jobs1_trials_per_s']:,.0f} trials/s, jobs=2 "
        f"{figures['jobs2_trials_per_s']:,.0f} trials/s ({figures['jobs2_speedup']:.2f}x)"
    )


def main() -> None:
    bench_main(__doc__, measure, print_figures, "fewer trials (about 10 s in all)")


if __name__ == "__main__":
    main()
