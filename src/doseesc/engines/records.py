"""Per-trial records: what each simulated trial selected, and whom it treated where.

Engines keep them on request (``records=True``) as plain integer arrays in trial order, so that
chunks and worker processes join them exactly; :meth:`Records.to_frame` turns them into a pandas
DataFrame, one row per trial.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_RECORDS = 20_000_000
"""More per-trial rows than this are refused (memory: about 100 bytes a trial for six doses)."""


@dataclass
class Records:
    """``selected[t]`` (-1: no dose), ``n[t, d]`` patients and ``y[t, d]`` DLTs of trial ``t`` at dose
    ``d``; ``duration`` in days (events engine only)."""

    selected: np.ndarray
    n: np.ndarray
    y: np.ndarray
    duration: np.ndarray | None = None

    @classmethod
    def empty(cls, n_trials: int, n_doses: int) -> Records:
        return cls(
            selected=np.full(n_trials, -1, dtype=np.int32),
            n=np.zeros((n_trials, n_doses), dtype=np.int32),
            y=np.zeros((n_trials, n_doses), dtype=np.int32),
        )

    def joined(self, other: Records | None) -> Records:
        """These trials followed by ``other``'s."""
        if other is None:
            return self
        duration = None
        if self.duration is not None and other.duration is not None:
            duration = np.concatenate([self.duration, other.duration])
        return Records(
            np.concatenate([self.selected, other.selected]),
            np.concatenate([self.n, other.n]),
            np.concatenate([self.y, other.y]),
            duration,
        )

    def to_frame(self) -> Any:
        """One row per trial (``trial`` from 0): ``selected`` (dose index, -1 for none),
        ``n_total``, ``dlt_total``, ``n_0 .. n_{K-1}``, ``dlt_0 ..`` and, from the events engine,
        ``duration_days``."""
        import pandas as pd

        k = self.n.shape[1]
        columns: dict[str, Any] = {
            "selected": self.selected,
            "n_total": self.n.sum(axis=1),
            "dlt_total": self.y.sum(axis=1),
        }
        columns |= {f"n_{d}": self.n[:, d] for d in range(k)}
        columns |= {f"dlt_{d}": self.y[:, d] for d in range(k)}
        if self.duration is not None:
            columns["duration_days"] = self.duration
        frame = pd.DataFrame(columns)
        frame.index.name = "trial"
        return frame


def check_records(n_trials: int) -> None:
    if n_trials > MAX_RECORDS:
        raise ValueError(
            f"records: at most {MAX_RECORDS:,} trials can be kept trial by trial, got n_trials = {n_trials:,}"
        )
