"""Accelerated titration designs 1-4 on one latent-model scenario, beside Simon et al. (1997).

    python examples/simon1997_comparison.py [--trials N]

Prints the Markdown table of the README's "Accelerated titration" section.  Published figures:
mean patients 39.9, 24.4, 20.7 and 21.2 for designs 1-4 (Simon et al., J Natl Cancer Inst
1997;89:1138-47, averaged over parameter sets fitted to 20 real trials).  Our scenario is one
parameter set chosen by us (see SCENARIO), not theirs: the numbers are comparable in direction, not
in value.  The standard phase ends with six patients at the recommended dose (``deescalate``), the
reading that brings every design within 6% of the paper (docs/simon1997.md).
"""

from __future__ import annotations

import argparse

import numpy as np

from doseesc.designs.titration import AcceleratedTitration
from doseesc.engines.courses import CourseOptions, simulate_courses
from doseesc.models.graded import LatentToxicity

PUBLISHED_MEAN_PATIENTS = {1: 39.9, 2: 24.4, 3: 20.7, 4: 21.2}
N_LEVELS = 24
K3 = float(np.log(1.4**12))
SCENARIO = {
    # Assumptions (ours): a 40% ladder starting 12 steps below the dose with 50% first-course DLT
    # risk; no cumulative toxicity (alpha = 0, as in 17 of the paper's 20 trials); grade-2 band
    # 1.2 log-units wide; grade 4 0.4 log-units above the DLT threshold.
    "alpha": 0.0,
    "sigma_patient": 0.8,
    "sigma_course": 0.4,
    "thresholds": (K3 - 1.2, K3, K3 + 0.4),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=20_000)
    args = ap.parse_args()
    model = LatentToxicity.ladder(1.0, N_LEVELS, **SCENARIO)
    print(
        "| design | mean patients (published) | mean patients (ours) | worst grade 0-1 | 2 | 3 | 4 "
        "| accelerated-phase patients | P(select level 11-13) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for k in (1, 2, 3, 4):
        r = simulate_courses(
            AcceleratedTitration.simon(k, N_LEVELS, deescalate=True),
            model,
            args.trials,
            seed=1997,
            options=CourseOptions(courses=3, intrapatient=k > 1),
        )
        w = 100 * r.worst_grade
        near = r.oc.p_select[10:13].sum()
        print(
            f"| {k} | {PUBLISHED_MEAN_PATIENTS[k]} | {r.mean_patients:.1f} ± {r.se_mean_patients:.2f} | "
            + " | ".join(f"{x:.0f}%" for x in w)
            + f" | {r.mean_accelerated:.1f} | {near:.2f} |"
        )


if __name__ == "__main__":
    main()
