"""Why design 3's mean sample size was far from Simon et al. (1997): the MTD rule, courses, parameters.

    python examples/simon1997_readings.py [--trials N] [--sensitivity]

Prints the Markdown tables of ``docs/simon1997.md``: mean patients per trial of designs 1-4 under
three readings of the standard phase's MTD rule, beside the paper's 39.9, 24.4, 20.7 and 21.2
(Simon et al., J Natl Cancer Inst 1997;89:1138-47); then, for each design, the effect of the number
of courses and of intrapatient escalation; with ``--sensitivity``, how the figures move with the
distance from the start to the MTD and with the between-patient SD (the paper's own parameter sets
are not available).  The scenario is the README's (``SCENARIO``): our assumption, not the paper's.
"""

from __future__ import annotations

import argparse

import numpy as np

from doseesc.designs.titration import AcceleratedTitration
from doseesc.engines.courses import CourseOptions, simulate_courses
from doseesc.models.graded import LatentToxicity

PUBLISHED_MEAN_PATIENTS = {1: 39.9, 2: 24.4, 3: 20.7, 4: 21.2}
N_LEVELS = 24
STEPS_TO_MTD = 12
"""Ladder steps (40% each) from the start to the dose with 50% first-course DLT risk (assumption)."""
SCENARIO = {
    # Assumptions (ours, as in examples/simon1997_comparison.py): no cumulative toxicity (alpha = 0,
    # as in 17 of the paper's 20 trials); grade-2 band 1.2 log-units wide; grade 4 0.4 above grade 3.
    "alpha": 0.0,
    "sigma_patient": 0.8,
    "sigma_course": 0.4,
}
READINGS = {
    "literal (`--simon-literal`): name the dose below whatever it holds": {"simon_literal": True},
    "default: a dose below the switch gets a 3+3 cohort before it is named (3-6 patients)": {},
    "6 patients at the MTD (`--deescalate`): the dose below is brought up to 6": {"deescalate": True},
}
SEED = 1997


def model(steps_to_mtd: int = STEPS_TO_MTD, **changes: float) -> LatentToxicity:
    k3 = steps_to_mtd * float(np.log(1.4))
    params = SCENARIO | changes
    return LatentToxicity.ladder(1.0, N_LEVELS, thresholds=(k3 - 1.2, k3, k3 + 0.4), **params)


def mean_patients(
    design: int,
    options: dict,
    lat: LatentToxicity,
    trials: int,
    courses: int = 3,
    intrapatient: bool | None = None,
) -> tuple[float, float]:
    """Mean patients per trial and its standard error (design 1 is the 3+3: no literal option)."""
    if design == 1:
        options = {k: v for k, v in options.items() if k != "simon_literal"}
    r = simulate_courses(
        AcceleratedTitration.simon(design, N_LEVELS, **options),
        lat,
        trials,
        seed=SEED,
        options=CourseOptions(
            courses=courses, intrapatient=design > 1 if intrapatient is None else intrapatient
        ),
    )
    return r.mean_patients, r.se_mean_patients


def readings_table(trials: int) -> None:
    print("| reading of the MTD rule | design 1 | design 2 | design 3 | design 4 |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(
        "| Simon et al. (1997), published | "
        + " | ".join(str(v) for v in PUBLISHED_MEAN_PATIENTS.values())
        + " |"
    )
    lat = model()
    for label, options in READINGS.items():
        cells = []
        for k in (1, 2, 3, 4):
            m, se = mean_patients(k, options, lat, trials)
            gap = 100 * (m / PUBLISHED_MEAN_PATIENTS[k] - 1)
            cells.append(f"{m:.1f} ± {se:.2f} ({gap:+.0f}%)")
        print(f"| {label} | " + " | ".join(cells) + " |")


def courses_table(trials: int) -> None:
    columns = "1 course | 3 courses | 6 courses | 3 courses, no intrapatient escalation"
    print(f"\n| design (`--deescalate`) | {columns} |")
    print("| --- | ---: | ---: | ---: | ---: |")
    lat = model()
    for k in (2, 3, 4):
        cells = [mean_patients(k, {"deescalate": True}, lat, trials, courses=c)[0] for c in (1, 3, 6)]
        cells.append(mean_patients(k, {"deescalate": True}, lat, trials, courses=3, intrapatient=False)[0])
        print(f"| {k} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")


def sensitivity_table(trials: int) -> None:
    print("\n| scenario (`--deescalate`, 3 courses) | design 1 | design 2 | design 3 | design 4 |")
    print("| --- | ---: | ---: | ---: | ---: |")
    cases = [
        ("MTD 8 steps above the start", {"steps_to_mtd": 8}),
        ("MTD 12 steps above (ours)", {}),
        ("MTD 16 steps above", {"steps_to_mtd": 16}),
        ("patient SD 0.4", {"sigma_patient": 0.4}),
        ("patient SD 1.2", {"sigma_patient": 1.2}),
    ]
    for label, changes in cases:
        lat = model(**changes)
        cells = [mean_patients(k, {"deescalate": True}, lat, trials)[0] for k in (1, 2, 3, 4)]
        print(f"| {label} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=20_000)
    ap.add_argument("--sensitivity", action="store_true")
    args = ap.parse_args()
    readings_table(args.trials)
    courses_table(args.trials)
    if args.sensitivity:
        sensitivity_table(args.trials)


if __name__ == "__main__":
    main()
