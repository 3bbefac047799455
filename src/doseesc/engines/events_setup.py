"""What the trials of an events-engine run share (:mod:`doseesc.engines.events_trial`): the design's
table, the model's probabilities and the conduct, read once as plain Python values."""

from __future__ import annotations

import numpy as np

from doseesc.conduct import RISK_DAYS, Conduct
from doseesc.designs.base import DecisionTable
from doseesc.models.base import ToxicityModel


class Setup:
    """Everything the trials of a run share, as plain Python values (cheap to read in callbacks)."""

    def __init__(
        self, table: DecisionTable, model: ToxicityModel, conduct: Conduct, infusion_cdf: np.ndarray | None
    ) -> None:
        self.table = table
        self.model = model
        self.next = table.next.tolist()
        self.dose = table.dose.tolist()
        self.size = table.size.tolist()
        self.n_before = table.n_before.tolist()
        self.n_live = table.n_live
        self.width = table.next.shape[1]
        self.n_events = len(model.events)
        self.grade2 = "g2" in table.outcomes
        # Per code table (by id: the tables live as long as the setup), (state, DLTs seen, grade 2
        # seen, patients unknown) -> the next id, or -1 while undecided (Trial._decided), filled as
        # trials meet them.
        self.decided: dict[int, dict[tuple[int, int, int, int], int]] = {}
        # code[dlt][g2]: the table's outcome code of a cohort (grade 2 ignored if the rule does not
        # read it); None where the cohort would need more patients than the table's largest cohort.
        m = table.max_cohort
        self.code = [
            [int(table.code(dlt=a, g2=b)) if a + b <= m else None for b in range(m + 1)] for a in range(m + 1)
        ]
        # Per trial kind: P(DLT), P(event) (or P(DLT) without an event) and P(grade >= 2) (or
        # P(DLT) when the design does not read grade 2), per dose (read per patient: risks()).
        table = model.probability_table
        rows = [
            table[:, 0],
            table[:, 1] if self.n_events else table[:, 0],
            table[:, -1] if self.grade2 else table[:, 0],
        ]
        self.kinds = np.stack(rows, axis=1)
        self.one_kind = self.risks(0) if table.shape[0] == 1 else None

        c = conduct
        self.conduct = c
        self.max_wait = c.max_wait_days
        self.infusions = list(c.level_infusions(self.table.n_doses))  # per dose level
        self.interval = c.interval_days
        # Per trial kind and dose, P(first DLT after infusion <= k | DLT), read where DLTs follow an
        # infusion and the model gives per-infusion risks (else the infusion is uniform).
        self.infusion_cdf = infusion_cdf if c.dlt_onset == "after_infusion" else None
        self.one_cdf = None
        if self.infusion_cdf is not None and self.infusion_cdf.shape[0] == 1:
            self.one_cdf = self.infusion_cdf[0].tolist()
        self.stagger = c.stagger_days
        self.window = c.window_days
        self.onset = c.dlt_onset
        self.onset_days = c.onset_days
        self.early = c.cohort_decision != "complete"
        self.close = c.cohort_decision == "earliest"
        self.halt_p = c.halt_probability if c.halt_days > 0 else 0.0
        self.halt_days = c.halt_days
        self.max_days = float(c.max_days)
        d = c.disease
        self.disease = d is not None
        if d is not None:
            self.aclf_fraction = d.aclf_fraction
            self.transplant_share = d.transplant_share
            self.t1 = t1 = RISK_DAYS[0]
            # (h1, h2, cumulative hazard at Day 28) per group: index 1 = ACLF, 0 = AD.
            self.hazard = [(h1, h2, h1 * t1) for h1, h2 in (d.hazards(False), d.hazards(True))]

    def risks(self, kind: int) -> list[tuple[float, float, float]]:
        """Per dose, P(DLT), P(event) and P(grade >= 2) of a patient of a trial of ``kind``."""
        return list(zip(*self.kinds[kind].tolist(), strict=True))

    def memo(self, code: list[list[int | None]]) -> dict[tuple[int, int, int, int], int]:
        """The decisions met so far with the outcome codes ``code`` (see :attr:`decided`)."""
        return self.decided.setdefault(id(code), {})


__all__ = ["Setup"]
