"""The HALPC calibration under both readings of the sentinel's dose, side by side.

"Each of the other 2 patients in the sentinel ... received approximately 5x10^6 cells/kg BW"
(Nevens et al., JHEP Reports 2021;3:100291; facts in ``docs/sources.md``) reads as the dose of every
infusion or as each patient's total (:data:`~doseesc.models.halpc_records.SENTINEL_READINGS`).
:func:`compare_readings` calibrates the bleeding model under each reading and each prior;
:func:`format_readings` prints them as one Markdown table (``doseesc calibrate halpc
--compare-readings``), for a statistician to paste.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from doseesc.formatting import percent
from doseesc.models.halpc import PREDICTIVE, PRIORS, HalpcCalibration, calibrate_halpc
from doseesc.models.halpc_records import SENTINEL_READINGS


def compare_readings(cohorts: str = "fig2", priors: Sequence[str] = tuple(PRIORS)) -> list[HalpcCalibration]:
    """The calibrations under every prior of ``priors`` and every reading of the sentinel's dose,
    prior by prior (each prior's readings in the order of ``SENTINEL_READINGS``)."""
    return [calibrate_halpc(p, cohorts, r) for p in priors for r in SENTINEL_READINGS]


def format_readings(calibrations: Sequence[HalpcCalibration]) -> str:
    """A Markdown table with one column per calibration (prior and sentinel reading): the sentinel
    records, the per-infusion risk of severe bleeding at the table doses (posterior median and
    credible interval, typical patient and population), the posterior predictive probabilities and
    the prior predictive; the readings and predictive probabilities are defined under the table."""
    if not calibrations:
        raise ValueError("calibrations: nothing to compare")
    first = calibrations[0]
    pct = percent(first.level, "g")

    def risk(p: float) -> str:  # two significant digits: the low doses' risks differ by orders of magnitude
        return percent(p, small="significant")

    def sentinel(cal: HalpcCalibration, i: int) -> str:
        r = cal.records[i]
        return f"{r.infusions} x {r.dose / 1e6:g}e6, bled after infusion {r.bled_at}"

    header = ["", *(f"{c.prior.name} prior, {c.sentinel_dose}" for c in calibrations)]
    rows = [
        [f"sentinel patient {i + 2} (cells/kg per infusion)", *(sentinel(c, i) for c in calibrations)]
        for i in range(2)
    ]
    for who in ("typical", "population"):
        for i, d in enumerate(first.doses):
            cells = []
            for c in calibrations:
                s = getattr(c, who)
                cells.append(f"{risk(s.median[i])} [{risk(s.lower[i])}, {risk(s.upper[i])}]")
            label = "typical patient" if who == "typical" else "population average"
            rows.append([f"P(bleed per infusion) at {d / 1e6:g}e6 cells/kg, {label}", *cells])
    for key in PREDICTIVE:
        rows.append([f"posterior predictive: {key}", *(f"{c.predictive[key]:.3g}" for c in calibrations)])
    rows.append(
        [
            "prior predictive (data as recorded)",
            *(f"{math.exp(c.posterior.log_evidence):.3g}" for c in calibrations),
        ]
    )
    rows.append(
        ["importance sampling: effective sample size", *(f"{c.posterior.ess:.0f}" for c in calibrations)]
    )

    lines = [
        f"HALPC severe-bleeding calibration under both readings of the sentinel's dose, per_infusion "
        f"and per_patient (cohort assumption {first.cohorts!r}); risks: posterior median [{pct} "
        "credible interval].",
        "",
        "| " + " | ".join(header) + " |",
        "| --- |" + " --- |" * len(calibrations),
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
        *(f"- {name}: {text}." for name, text in SENTINEL_READINGS.items()),
        *(
            f"- posterior predictive {key}: the posterior mean of P({text})."
            for key, text in PREDICTIVE.items()
        ),
    ]
    return "\n".join(lines)
