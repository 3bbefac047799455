"""The HALPC phase II findings as bleeding records, and the two readings of the sentinel's dose.

Source: Nevens et al., JHEP Reports 2021;3:100291 (facts in ``docs/sources.md``), "the paper"
below.  Each :class:`BleedingRecord` is a group of patients given the same regimen with the same
outcome; :func:`sentinel_records` gives the two sentinel patients who received cells under either
reading of their dose (:data:`SENTINEL_READINGS`), :data:`COHORTS` the 21 amended-protocol
patients under three readings of the cohorts' regimens.  :mod:`doseesc.models.halpc` calibrates
the bleeding model to them.
"""

from __future__ import annotations

from dataclasses import dataclass

SENTINEL_DOSE = 5e6
"""Cells/kg body weight: "Each of the other 2 patients in the sentinel ... received approximately
5x10^6 cells/kg BW" (paper, Results).  Whether per infusion or in total: see
:data:`SENTINEL_READINGS`."""

LOWER_DOSE = 0.6e6
"""Cells/kg, the lower amended dose (paper text: 0.6; its Fig. 2 labels it 0.6-0.8, so 0.6 is the
less informative end)."""

HIGHER_DOSE = 1.2e6
"""Cells/kg, the higher amended dose (paper)."""

INTERVAL_DAYS = 7.0
"""Days between infusions: amended protocol "2 infusions, 7 days apart" (paper).  The sentinel's
planned interval is not reported: the same 7 days is assumed."""

SENTINEL_READINGS = {
    "per_infusion": (
        "each sentinel patient's ~5e6 cells/kg is the dose of every infusion it received (patient 2: "
        "2 x 5e6, patient 3: 1 x 5e6)"
    ),
    "per_patient": (
        "each sentinel patient's ~5e6 cells/kg is its total over the infusions it received (patient 2: "
        "2 x 2.5e6, patient 3: 1 x 5e6)"
    ),
}
"""The two readings of "each of the other 2 patients ... received approximately 5x10^6 cells/kg BW"
(paper, Results), which does not say whether the amount is per infusion or per patient; both are
defensible.  ``per_infusion`` (the default) reads it as the dose, as the Discussion's "the dose of
HALPC (~5x10^6 cells/kg BW)" suggests; ``per_patient`` takes "received" as the total a patient was
given.  They differ only for patient 2, the one with two infusions.  The planned regimen, "four
infusions of 250x10^6 cells/dose" (paper, Methods; absolute cells, "normalised to BW" only after the
amendment), settles neither: 250x10^6 cells is ~5x10^6 cells/kg for a 50 kg patient under the first
reading, and 2 x 250x10^6 cells for a 100 kg patient 2 under the second; the paper also mentions "a
change in the method to estimate the number of cells administered" after the sentinel."""


@dataclass(frozen=True)
class BleedingRecord:
    """``patients`` patients given ``infusions`` infusions of ``dose`` cells/kg, 7 days apart;
    ``bled_at`` is the infusion (1-based) after which severe bleeding occurred, None for none.
    ``score`` is the patients' coagulation score when known; None (as for the published data)
    averages over the population."""

    label: str
    patients: int
    dose: float
    infusions: int
    bled_at: int | None
    source: str = ""
    score: float | None = None

    def __post_init__(self) -> None:
        if self.patients < 1 or self.infusions < 1 or not self.dose > 0:
            raise ValueError(f"{self.label}: patients and infusions must be >= 1 and the dose positive")
        if self.bled_at is not None and not 1 <= self.bled_at <= self.infusions:
            raise ValueError(f"{self.label}: bled_at must be an infusion number from 1 to {self.infusions}")


def sentinel_records(reading: str = "per_infusion") -> tuple[BleedingRecord, BleedingRecord]:
    """The two sentinel patients who received about 5e6 cells/kg (paper), under ``reading`` (a key
    of :data:`SENTINEL_READINGS`).  Patient 2 bled after its 2nd infusion, patient 3 after its
    single infusion; under ``per_patient`` patient 2's two infusions share the ~5e6 cells/kg.  The
    3rd sentinel patient (the first treated) received a negligible amount and carries no
    information."""
    if reading not in SENTINEL_READINGS:
        raise ValueError(
            f"sentinel_dose: unknown reading {reading!r}; allowed: {', '.join(SENTINEL_READINGS)}"
        )
    infusions_2 = 2  # "severe bleeding at a jugular puncture site after the second infusion"
    dose_2 = SENTINEL_DOSE / infusions_2 if reading == "per_patient" else SENTINEL_DOSE
    where = "~5e6 cells/kg in total" if reading == "per_patient" else "~5e6 cells/kg per infusion"
    return (
        BleedingRecord(
            "sentinel patient 2",
            1,
            dose_2,
            infusions_2,
            2,
            f"paper: severe bleeding at a jugular puncture site after the 2nd infusion; {where}",
        ),
        BleedingRecord(
            "sentinel patient 3",
            1,
            SENTINEL_DOSE,
            1,
            1,
            "paper: coagulopathy, severe persistent epistaxis after the single infusion",
        ),
    )


SENTINEL = sentinel_records()
"""The sentinel records under the default reading (``per_infusion``)."""

_C2 = BleedingRecord(
    "cohort 2", 6, LOWER_DOSE, 1, None, "paper: single infusion of 0.6e6 cells/kg, no related SAE"
)

COHORTS: dict[str, tuple[BleedingRecord, ...]] = {
    "fig2": (
        _C2,
        BleedingRecord("cohort 3", 3, LOWER_DOSE, 2, None, "assumption from Fig. 2: 2 infusions, lower dose"),
        BleedingRecord(
            "cohort 4", 4, HIGHER_DOSE, 1, None, "assumption from Fig. 2: 1 infusion, higher dose"
        ),
        BleedingRecord(
            "cohort 5", 8, HIGHER_DOSE, 2, None, "assumption from Fig. 2: 2 infusions, higher dose"
        ),
    ),
    "least-exposure": (
        _C2,
        BleedingRecord(
            "cohorts 3-5", 15, LOWER_DOSE, 1, None, "sensitivity bound: all 1 infusion, lower dose"
        ),
    ),
    "most-exposure": (
        _C2,
        BleedingRecord(
            "cohorts 3-5", 15, HIGHER_DOSE, 2, None, "sensitivity bound: all 2 infusions, higher dose"
        ),
    ),
}
"""The 21 amended-protocol patients, none with a treatment-related serious or severe adverse event
(paper).  Cohort 2 (N = 6) had a single 0.6e6 cells/kg infusion (paper text).  Which of Cohorts 3-5
(N = 3, 4, 8) had 1 or 2 infusions and which dose is not stated.  ``"fig2"`` (the default) reads it
from the Fig. 2 legend: Cohorts 2 and 4 are plotted together, as are Cohorts 3 and 5 "after the
second dose", each pair with a lower and a higher dose, so Cohort 3 = 2 x 0.6, Cohort 4 = 1 x 1.2,
Cohort 5 = 2 x 1.2 (assumption).  ``"least-exposure"`` and ``"most-exposure"`` bound every other
allocation, for sensitivity analyses."""
