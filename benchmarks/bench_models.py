"""Speed of the Monte Carlo engines on richer models: heterogeneous patients, a posterior, graded
toxicity with accelerated titration, several courses per patient.

    python benchmarks/bench_models.py [--quick] [--json FILE]

* HALPC: the 3+3 over 0.3, 0.6, 1.2, 2.5 and 5e6 cells/kg, 2 infusions 7 days apart, with the
  calibrated severe-bleeding model (:func:`doseesc.models.halpc_bleeding_model`): patients differ
  in their coagulation score (averaged over the population, :mod:`doseesc.models.base`); with
  ``posterior=True`` every trial also draws its own parameters from the posterior.
  The same 10^6 trials with 1 and 2 worker processes (chunks of 2^18 trials, so there is work to
  share; the result does not depend on it).
* Accelerated titration (Simon et al. 1997) on the README's latent-toxicity scenario (24 levels of a
  40% ladder; a patient effect per patient): design 2 with :func:`doseesc.engines.simulate` (one
  course) and designs 2 and 4 with :func:`doseesc.engines.simulate_courses` (3 courses, intrapatient
  escalation); the NCT05727722 hybrid on a graded table (patients alike).

No targets are set for these (issue 7 sets them for the plain 3+3 and the events engine); the
figures show what heterogeneity and courses cost relative to the 3+3 table model.
"""

from __future__ import annotations

import numpy as np
from _cli import bench_main
from bench_events import best_rate as rate  # the same best-of-n rate

from doseesc.designs import ThreePlusThree
from doseesc.designs.titration import AcceleratedTitration
from doseesc.engines import simulate, simulate_courses
from doseesc.engines.courses import CourseOptions
from doseesc.models import DoseLevels, DoseToxicityTable, Regimen, halpc_bleeding_model
from doseesc.models.graded import LatentToxicity

HALPC_DOSES = "0.3,0.6,1.2,2.5,5"
"""Dose levels of the HALPC redesign, 1e6 cells/kg."""

K3 = float(np.log(1.4**12))
LATENT = {"alpha": 0.0, "sigma_patient": 0.8, "sigma_course": 0.4, "thresholds": (K3 - 1.2, K3, K3 + 0.4)}
"""The README's accelerated-titration scenario (examples/simon1997_comparison.py)."""

NCT_P_TOX = [0.05, 0.1, 0.25, 0.4]
NCT_P_GRADE2 = [0.1, 0.1, 0.15, 0.2]


def halpc_models():
    doses = DoseLevels.parse(HALPC_DOSES, "1e6cells/kg")
    regimen = Regimen(2, 7.0)
    return (
        ThreePlusThree(doses.n),
        halpc_bleeding_model(doses, regimen),
        halpc_bleeding_model(doses, regimen, posterior=True),
    )


def measure(quick: bool = False) -> dict:
    """Run the measurements; return the figures (the JSON written by ``--json``)."""
    n_mc = 10**5 if quick else 10**6
    n_courses = 10**4 if quick else 10**5
    repeats = 1 if quick else 3

    design, fixed, posterior = halpc_models()
    for model in (fixed, posterior):
        simulate(design, model, 1_000, seed=0)  # compile the table, fit the posterior, warm the caches
    out: dict = {"trials_mc": n_mc, "trials_courses": n_courses}
    out["halpc_fixed_trials_per_s"] = rate(lambda n: simulate(design, fixed, n, seed=1), n_mc, repeats)
    out["halpc_posterior_trials_per_s"] = rate(
        lambda n: simulate(design, posterior, n, seed=1), n_mc, repeats
    )
    small = 1 << 18
    out["halpc_fixed_jobs1_trials_per_s"] = rate(
        lambda n: simulate(design, fixed, n, seed=1, chunk_trials=small), n_mc, max(repeats - 1, 1)
    )
    out["halpc_fixed_jobs2_trials_per_s"] = rate(
        lambda n: simulate(design, fixed, n, seed=1, chunk_trials=small, jobs=2), n_mc, max(repeats - 1, 1)
    )

    latent = LatentToxicity.ladder(1.0, 24, **LATENT)
    atd2, atd4 = AcceleratedTitration.simon(2, 24), AcceleratedTitration.simon(4, 24)
    courses = CourseOptions(courses=3, intrapatient=True)
    nct = AcceleratedTitration.nct05727722()
    graded = DoseToxicityTable(NCT_P_TOX, NCT_P_GRADE2)
    for d in (atd2, atd4):
        simulate_courses(d, latent, 1_000, seed=0, options=courses)
    simulate(atd2, latent, 1_000, seed=0)
    simulate(nct, graded, 1_000, seed=0)
    out["atd2_latent_simulate_trials_per_s"] = rate(
        lambda n: simulate(atd2, latent, n, seed=1), n_mc, repeats
    )
    out["nct05727722_table_simulate_trials_per_s"] = rate(
        lambda n: simulate(nct, graded, n, seed=1), n_mc, repeats
    )
    out["atd2_latent_courses_trials_per_s"] = rate(
        lambda n: simulate_courses(atd2, latent, n, seed=1, options=courses), n_courses, repeats
    )
    out["atd4_latent_courses_trials_per_s"] = rate(
        lambda n: simulate_courses(atd4, latent, n, seed=1, options=courses), n_courses, repeats
    )
    return out


def print_figures(f: dict) -> None:
    n, nc = f["trials_mc"], f["trials_courses"]
    print("| workload | trials | trials/s (1 core) |")
    print("| --- | ---: | ---: |")
    rows = [
        ("HALPC 3+3, heterogeneous patients, fixed parameters", n, f["halpc_fixed_trials_per_s"]),
        ("HALPC 3+3, heterogeneous patients, posterior draw per trial", n, f["halpc_posterior_trials_per_s"]),
        ("ATD design 2, latent model, `simulate` (1 course)", n, f["atd2_latent_simulate_trials_per_s"]),
        ("NCT05727722 hybrid, graded table, `simulate`", n, f["nct05727722_table_simulate_trials_per_s"]),
        (
            "ATD design 2, latent model, `simulate_courses` (3 courses)",
            nc,
            f["atd2_latent_courses_trials_per_s"],
        ),
        (
            "ATD design 4, latent model, `simulate_courses` (3 courses)",
            nc,
            f["atd4_latent_courses_trials_per_s"],
        ),
    ]
    for name, trials, r in rows:
        print(f"| {name} | {trials:.0e} | {r:,.0f} |")
    print(
        f"HALPC fixed parameters, {n:.0e} trials in chunks of 2^18: jobs=1 "
        f"{f['halpc_fixed_jobs1_trials_per_s']:,.0f}, "
        f"jobs=2 {f['halpc_fixed_jobs2_trials_per_s']:,.0f} trials/s"
    )


def main() -> None:
    bench_main(__doc__, measure, print_figures, "10x fewer trials")


if __name__ == "__main__":
    main()
