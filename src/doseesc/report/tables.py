"""The tables of a report, in the layout protocols use, as numbers rounded once.

For each study (one true dose-toxicity scenario):

* **by dose**: one row per dose level with its true P(DLT) (%), then per arm (design and engine) the
  percentage of trials selecting it as the MTD, the mean patients and the mean DLTs per trial
  (and the mean patients with each named kind of DLT, e.g. severe bleeding, where the model has
  one).  The true MTD's row is marked (:attr:`DoseTable.mtd_row`) and set in bold.
* **per trial**: per arm, % no selection, mean and 90th percentile of the number of patients N,
  % correct selection and % selecting above the MTD (with a target), expected DLTs and named
  events, and for the calendar-time engine the duration's median and 90th percentile in months.

Numbers are rounded here (:data:`DECIMALS`), once, so that every output format shows the same
cells and a test can compare a parsed table with the result's numbers after the same rounding.
The metrics follow :mod:`doseesc.metrics` (true MTD: closest to the target within its band) and
are computed from each result's selection probabilities, so a target given only to
``doseesc report`` applies as well.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from doseesc.metrics import Target
from doseesc.report.model import Arm, Study

DAYS_PER_MONTH = 365.25 / 12
"""Months of the duration rows (as :data:`doseesc.conduct.DAYS_PER_MONTH`)."""
ARMS_PER_TABLE = 3
"""More arms than this are split over several tables, so that a table fits a portrait page."""

# Column or row names and the decimals their numbers keep.
TRUE_P = "true P(DLT) %"
SELECTED = "% selected"
PATIENTS = "mean patients"
DLTS = "mean DLTs"
NO_SELECTION = "% no selection"
MEAN_N = "mean N (patients)"
Q90_N = "90th percentile of N"
CORRECT = "% correct selection"
ABOVE = "% selecting above the MTD"
EXPECTED_DLTS = "expected DLTs"
DURATION_MEDIAN = "duration, median (months)"
DURATION_Q90 = "duration, 90th percentile (months)"
DECIMALS = {
    TRUE_P: 1,
    SELECTED: 1,
    PATIENTS: 1,
    DLTS: 2,
    NO_SELECTION: 1,
    MEAN_N: 1,
    Q90_N: 0,
    CORRECT: 1,
    ABOVE: 1,
    EXPECTED_DLTS: 2,
    DURATION_MEDIAN: 1,
    DURATION_Q90: 1,
}
EVENT_DECIMALS = 2
"""Mean patients with a named kind of DLT, per dose and in total."""


def event_column(name: str) -> str:
    return f"mean with {name}"


def event_row(name: str) -> str:
    return f"expected patients with {name}"


def decimals(name: str) -> int:
    return DECIMALS.get(name, EVENT_DECIMALS)


def rounded(value: float | None, name: str) -> float | None:
    """``value`` rounded as the column or row ``name`` shows it (None stays None)."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), decimals(name))


@dataclass(frozen=True)
class DoseTable:
    """Rows: dose labels; columns: (arm label, quantity) pairs after the true P(DLT) column
    (arm label "" for it); cells rounded; ``mtd_row`` the true MTD's row (or None)."""

    rows: list[str]
    columns: list[tuple[str, str]]
    cells: list[list[float | None]]
    mtd_row: int | None

    def frame(self) -> Any:
        import pandas as pd

        index = pd.MultiIndex.from_tuples(self.columns, names=["", ""])
        return pd.DataFrame(self.cells, index=pd.Index(self.rows, name="dose"), columns=index)


@dataclass(frozen=True)
class TrialTable:
    """Rows: trial-level quantities; columns: arm labels; cells rounded (None: not applicable)."""

    rows: list[str]
    columns: list[str]
    cells: list[list[float | None]]

    def frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.cells, index=pd.Index(self.rows, name="per trial"), columns=self.columns)


def arm_metrics(arm: Arm, target: Target | None, p_true: np.ndarray) -> dict[str, float | None]:
    """Trial-level figures of one arm, unrounded: the names of :data:`DECIMALS` (and
    :func:`event_row` of each event), None where they do not apply."""
    r = arm.result
    p_select = np.asarray(r["p_select"], dtype=float)
    pmf = _pmf(r)
    out: dict[str, float | None] = {
        NO_SELECTION: 100 * float(r["p_none"]),
        MEAN_N: float(r["mean_total_n"]),
        Q90_N: None if pmf is None else float(quantile(pmf, 0.9)),
        CORRECT: None,
        ABOVE: None,
        EXPECTED_DLTS: float(r["mean_total_dlt"]),
        DURATION_MEDIAN: None,
        DURATION_Q90: None,
    }
    if target is not None:
        true_mtd, ok = target.acceptable(p_true)
        region = target.regions(p_true)
        if true_mtd is None:
            correct, above = float(r["p_none"]), float(p_select.sum())
        else:
            correct, above = float(p_select[ok].sum()), float(p_select[region == 2].sum())
        out[CORRECT], out[ABOVE] = 100 * correct, 100 * above
    duration = r.get("duration_days")
    if duration:
        out[DURATION_MEDIAN] = duration["median"] / DAYS_PER_MONTH
        out[DURATION_Q90] = duration["q90"] / DAYS_PER_MONTH
    for name, ev in arm.events.items():
        out[event_row(name)] = float(ev["mean_total"])
    return out


def _pmf(result: dict[str, Any]) -> np.ndarray | None:
    dist = result.get("total_n_distribution")
    if not dist:
        return None
    pmf = np.zeros(1 + max(int(m) for m in dist))
    for m, q in dist.items():
        pmf[int(m)] = q
    return pmf


def sample_size_pmf(arm: Arm) -> np.ndarray | None:
    """P(N = m) for m = 0, 1, ... of an arm's result (None if the result has no distribution)."""
    return _pmf(arm.result)


def quantile(pmf: np.ndarray, q: float) -> int:
    """The smallest m with P(N <= m) >= q."""
    cdf = np.cumsum(pmf)
    return int(np.searchsorted(cdf, q - 1e-12))


def chunks(arms: tuple[Arm, ...], size: int = ARMS_PER_TABLE) -> list[tuple[Arm, ...]]:
    return [arms[i : i + size] for i in range(0, len(arms), size)] or [()]


def dose_table(study: Study, arms: tuple[Arm, ...]) -> DoseTable:
    """The by-dose table of ``arms`` (some or all of the study's)."""
    p_true = study.p_dlt
    events = study.event_names
    columns: list[tuple[str, str]] = [("", TRUE_P)]
    per_arm: list[list[list[float | None]]] = []
    for arm in arms:
        r = arm.result
        quantities = [
            (SELECTED, 100 * np.asarray(r["p_select"], dtype=float)),
            (PATIENTS, np.asarray(r["mean_n"], dtype=float)),
            (DLTS, np.asarray(r["mean_dlt"], dtype=float)),
        ]
        for name in events:
            ev = arm.events.get(name)
            values = None if ev is None else np.asarray(ev["mean_per_dose"], dtype=float)
            quantities.append((event_column(name), values))
        columns += [(arm.label, q) for q, _ in quantities]
        per_arm.append(
            [[None if v is None else rounded(v[d], q) for q, v in quantities] for d in range(len(p_true))]
        )
    cells = [
        [rounded(100 * p_true[d], TRUE_P), *(c for block in per_arm for c in block[d])]
        for d in range(len(p_true))
    ]
    return DoseTable(study.labels, columns, cells, study.true_mtd)


def trial_table(study: Study, arms: tuple[Arm, ...]) -> TrialTable:
    """The per-trial table of ``arms``: rows that apply to none of them are left out."""
    figures = [arm_metrics(a, study.target, study.p_dlt) for a in arms]
    names = [
        NO_SELECTION,
        MEAN_N,
        Q90_N,
        CORRECT,
        ABOVE,
        EXPECTED_DLTS,
        *(event_row(e) for e in study.event_names),
        DURATION_MEDIAN,
        DURATION_Q90,
    ]
    rows = [n for n in names if any(f.get(n) is not None for f in figures)]
    cells = [[rounded(f.get(n), n) for f in figures] for n in rows]
    return TrialTable(rows, [a.label for a in arms], cells)


def cell_text(value: float | None, name: str) -> str:
    """A rounded cell as every format writes it (an en dash when not applicable)."""
    if value is None:
        return "\N{EN DASH}"
    return f"{value:.{decimals(name)}f}"


__all__ = [
    "DoseTable",
    "TrialTable",
    "arm_metrics",
    "cell_text",
    "chunks",
    "dose_table",
    "quantile",
    "rounded",
    "sample_size_pmf",
    "trial_table",
]
