"""Operating characteristics of a design: the one result type every engine returns."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from doseesc import __version__
from doseesc.designs.base import DecisionTable, Design
from doseesc.metrics import PatientSplit, Target, metrics
from doseesc.stats import sd_from_sums as _sd
from doseesc.tables import Tabular


def dose_sums(table: DecisionTable, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Per-dose sums of patients and DLTs and of their squares, from cohort-outcome weights.

    ``weights[s, c]`` counts (or, in the exact engine, is the probability of) cohorts in live
    state ``s`` that showed outcome code ``c``.  Squares telescope: a trial's ``n_d**2`` is the sum
    over its cohorts at ``d`` of ``(n_before + size)**2 - n_before**2``, because the state holds
    ``n_before`` (likewise for DLTs).
    """
    k = table.decode("dlt")
    n_after = table.n_before + table.size
    y_after = table.y_before[:, None] + k
    per_state = {
        "n": weights.sum(axis=1) * table.size,
        "n2": weights.sum(axis=1) * (n_after**2 - table.n_before**2),
        "y": weights @ k,
        "y2": (weights * (y_after**2 - table.y_before[:, None] ** 2)).sum(axis=1),
    }
    return {key: np.bincount(table.dose, weights=v, minlength=table.n_doses) for key, v in per_state.items()}


@dataclass(frozen=True, eq=False)
class EventCounts:
    """Patients with one kind of DLT per trial: mean and SD per dose and in total."""

    mean: np.ndarray
    sd: np.ndarray
    mean_total: float
    sd_total: float


@dataclass(frozen=True, eq=False)
class OperatingCharacteristics(Tabular):
    """Selection probabilities and expected counts of one design under one toxicity scenario.

    Counts are patients and DLTs per trial.  ``sd_*`` are the standard deviations across trials
    (exact, or estimated from the simulated trials); a Monte Carlo result also has standard errors
    of its estimates (``se_*``), derived from them and ``n_trials``.
    """

    design: str
    options: dict[str, Any]
    engine: str
    p_tox: np.ndarray
    p_select: np.ndarray
    p_none: float
    mean_n: np.ndarray
    mean_dlt: np.ndarray
    sd_n: np.ndarray
    sd_dlt: np.ndarray
    mean_total_n: float
    mean_total_dlt: float
    sd_total_n: float
    sd_total_dlt: float
    total_n_pmf: np.ndarray
    """P(total sample size = m) for m = 0, 1, ..."""
    n_trials: int | None = None
    seed: int | None = None
    events: dict[str, EventCounts] = field(default_factory=dict)
    """Named kinds of DLT (e.g. severe bleeding) counted per dose and in total."""
    extras: dict[str, Any] = field(default_factory=dict)
    """Figures particular to the design (its ``summaries``: e.g. accelerated titration's
    ``p_switch`` and ``mean_accelerated_patients``), JSON-ready, keyed as in :meth:`to_dict`."""
    metrics: dict[str, Any] | None = None
    """The metrics against a target (:mod:`doseesc.metrics`), when a target was given."""
    records: Any = None
    """Per-trial records (a pandas DataFrame), when the engine was asked for them."""

    @classmethod
    def from_sums(
        cls,
        *,
        design: Design,
        table: DecisionTable | None,
        weights: np.ndarray | None,
        selected: np.ndarray,
        total_n: np.ndarray,
        total_dlt: float,
        total_dlt_sq: float,
        total_dlt_counts: np.ndarray,
        n_trials: int | None,
        p_tox: np.ndarray,
        events: dict[str, tuple[np.ndarray, np.ndarray, float]] | None = None,
        target: Target | None = None,
        split: PatientSplit | None = None,
        sums: dict[str, np.ndarray] | None = None,
        **meta: Any,
    ) -> OperatingCharacteristics:
        """Build the result from sums over ``n_trials`` simulated trials, or from expectations
        (probability weights) when ``n_trials`` is None.

        ``selected[k + 1]`` is the weight of trials selecting dose ``k`` (index 0: none);
        ``total_n[m]`` that of trials with ``m`` patients in all; ``total_dlt`` and
        ``total_dlt_sq`` are the sums of the trials' DLT totals and of their squares, and
        ``total_dlt_counts[k]`` the weight of trials with ``k`` DLTs in all (the last entry may
        stand for "that many or more"); ``events[name]`` holds, per dose, the sum of a kind of DLT and of its
        per-trial squares, then the sum of squared trial totals.  With a ``target``, the metrics of
        :mod:`doseesc.metrics` are added (``split`` gives the shares' standard errors).

        ``sums`` (per-dose sums of patients ``n``, DLTs ``y`` and their per-trial squares ``n2``,
        ``y2``) replaces ``table`` and ``weights`` for an engine that counts per dose directly; the
        design's own :meth:`summaries` need the table and are then left out.
        """
        if sums is None:
            sums = dose_sums(table, weights)
        m = np.arange(total_n.shape[0])
        scale = 1 if n_trials is None else n_trials
        summaries = getattr(design, "summaries", None)
        result = cls(
            design=design.name,
            options=design.options,
            p_tox=p_tox,
            p_select=selected[1:] / scale,
            p_none=float(selected[0] / scale),
            mean_n=sums["n"] / scale,
            mean_dlt=sums["y"] / scale,
            sd_n=_sd(sums["n"], sums["n2"], n_trials),
            sd_dlt=_sd(sums["y"], sums["y2"], n_trials),
            mean_total_n=float(total_n @ m / scale),
            mean_total_dlt=float(total_dlt / scale),
            sd_total_n=float(_sd(total_n @ m, total_n @ m**2, n_trials)),
            sd_total_dlt=float(_sd(total_dlt, total_dlt_sq, n_trials)),
            total_n_pmf=total_n / scale,
            n_trials=n_trials,
            events={
                name: EventCounts(
                    mean=ev / scale,
                    sd=_sd(ev, ev_sq, n_trials),
                    mean_total=float(ev.sum() / scale),
                    sd_total=float(_sd(ev.sum(), tot_sq, n_trials)),
                )
                for name, (ev, ev_sq, tot_sq) in (events or {}).items()
            },
            extras=summaries(table, weights, n_trials) if summaries and table is not None else {},
            **meta,
        )
        if target is None:
            return result
        return result.with_metrics(target, total_dlt_counts / scale, split)

    def with_metrics(
        self, target: Target, total_dlt_pmf: np.ndarray, split: PatientSplit | None = None
    ) -> OperatingCharacteristics:
        """This result with the metrics against ``target`` (:mod:`doseesc.metrics`);
        ``total_dlt_pmf[k]`` is P(k DLTs in all), the last entry possibly "that many or more"."""
        found = metrics(
            target,
            self.p_tox,
            p_select=self.p_select,
            p_none=self.p_none,
            mean_n=self.mean_n,
            total_dlt_pmf=total_dlt_pmf,
            n_trials=self.n_trials,
            split=split,
        )
        return replace(self, metrics=found)

    def _se(self, sd: np.ndarray | float) -> np.ndarray | float | None:
        if self.n_trials is None:
            return None
        return sd / np.sqrt(self.n_trials)

    @property
    def se_p_select(self) -> np.ndarray | None:
        """Standard error of each selection probability (binomial)."""
        return None if self.n_trials is None else np.sqrt(self.p_select * (1 - self.p_select) / self.n_trials)

    @property
    def se_p_none(self) -> float | None:
        return (
            None if self.n_trials is None else float(np.sqrt(self.p_none * (1 - self.p_none) / self.n_trials))
        )

    @property
    def se_mean_n(self) -> np.ndarray | None:
        return self._se(self.sd_n)

    @property
    def se_mean_dlt(self) -> np.ndarray | None:
        return self._se(self.sd_dlt)

    @property
    def se_mean_total_n(self) -> float | None:
        return self._se(self.sd_total_n)

    @property
    def se_mean_total_dlt(self) -> float | None:
        return self._se(self.sd_total_dlt)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary (an undefined SD or SE is None); the key names are a stable
        interface."""
        out: dict[str, Any] = {
            "design": self.design,
            "options": dict(self.options),
            "engine": self.engine,
            "p_tox": self.p_tox.tolist(),
            "p_none": self.p_none,
            "p_select": self.p_select.tolist(),
            "mean_n": self.mean_n.tolist(),
            "mean_dlt": self.mean_dlt.tolist(),
            "sd_n": self.sd_n.tolist(),
            "sd_dlt": self.sd_dlt.tolist(),
            "mean_total_n": self.mean_total_n,
            "mean_total_dlt": self.mean_total_dlt,
            "sd_total_n": self.sd_total_n,
            "sd_total_dlt": self.sd_total_dlt,
            "total_n_distribution": {str(m): float(q) for m, q in enumerate(self.total_n_pmf) if q > 0},
            "version": __version__,
        }
        out |= self.extras
        if self.events:
            out["events"] = {
                name: {
                    "mean_per_dose": ev.mean.tolist(),
                    "mean_total": ev.mean_total,
                    "sd_per_dose": ev.sd.tolist(),
                    "sd_total": ev.sd_total,
                }
                | (
                    {}
                    if self.n_trials is None
                    else {"se_per_dose": self._se(ev.sd).tolist(), "se_total": self._se(ev.sd_total)}
                )
                for name, ev in self.events.items()
            }
        if self.n_trials is not None:
            out |= {
                "n_trials": self.n_trials,
                "seed": self.seed,
                "se_p_select": self.se_p_select.tolist(),
                "se_p_none": self.se_p_none,
                "se_mean_n": self.se_mean_n.tolist(),
                "se_mean_dlt": self.se_mean_dlt.tolist(),
                "se_mean_total_n": self.se_mean_total_n,
                "se_mean_total_dlt": self.se_mean_total_dlt,
            }
        if self.metrics is not None:
            out |= self.metrics
        return json_ready(out)


def json_ready(value: Any) -> Any:
    """``value`` with every non-finite float (an undefined SD, an infinite limit) replaced by None,
    through nested dicts and lists."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_ready(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
