"""The HALPC severe-bleeding model, calibrated to the phase II sentinel findings.

Source: Nevens et al., JHEP Reports 2021;3:100291 (facts in ``docs/sources.md``), "the paper"
below.  HALPC express tissue factor; in cirrhosis the reservoir of procoagulant factors is already
depleted, so a large cell dose can consume it and cause bleeding (paper, Discussion).  Hence the
per-infusion probability of severe bleeding

    logit p = intercept + slope * ln(L / 1e6 cells/kg) + coagulation_effect * score

with ``L`` the infusion's load in cells/kg (the dose, plus what is left of earlier infusions, see
:class:`~doseesc.models.mechanisms.Regimen`, half-life :data:`RESERVE_HALF_LIFE_DAYS`) and ``score``
the coagulation-depletion score of :meth:`doseesc.population.Population.coagulation_score` (INR,
fibrinogen, platelets; 0 for the typical patient, SD 1 in the population).

Calibration data (:mod:`doseesc.models.halpc_records`): 2 of 2 sentinel patients given about 5e6
cells/kg bled (one after the 2nd infusion, one after a single infusion; the 3rd sentinel patient's
dose was negligible and carries no information), the 5e6 read per infusion or per patient
(``sentinel_dose``, :data:`~doseesc.models.halpc_records.SENTINEL_READINGS`), and none of 21
patients given 0.6 or 1.2e6 cells/kg, 1 or 2 infusions 7 days apart (:data:`COHORTS`).  Individual
covariates are not published, so each patient's likelihood is averaged over the population's score
distribution (Gauss-Hermite, the score being standard normal).  The posterior comes from
:func:`~doseesc.models.logistic.fit_posterior` under one of :data:`PRIORS`.

Posterior predictive checks (:data:`PREDICTIVE`): the posterior mean of the probability of the data
as recorded, which for a patient who bled includes after which infusion (the likelihood the model is
fitted to), and of the coarser pattern "who bled and who did not", which a patient-level summary of a
trial reports.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

import numpy as np

from doseesc.cache import cached_arrays
from doseesc.formatting import percent
from doseesc.models.halpc_records import (
    COHORTS,
    INTERVAL_DAYS,
    SENTINEL,
    SENTINEL_READINGS,
    BleedingRecord,
    sentinel_records,
)
from doseesc.models.logistic import CovariateTerm, LogisticRisk, NormalPrior, Posterior, fit_posterior
from doseesc.models.mechanisms import MechanismModel, Regimen
from doseesc.models.units import Dose, DoseLevels
from doseesc.population import Population

EVENT = "severe bleeding"
"""Name of the bleeding event (a kind of DLT) in the models' ``events``."""

REFERENCE_DOSE = Dose(1e6, "cells/kg")
"""The dose at which ``intercept`` is the log-odds: 1e6 cells/kg, inside the range given safely."""

RESERVE_HALF_LIFE_DAYS = 3.5
"""Half-life (days) with which the coagulation reserve consumed by an infusion is restored.
Assumption, of the order of the plasma half-life of fibrinogen (3-4 days); it cannot be estimated
from the published data.  With 7 days between infusions a second infusion acts with 1.25 x its
dose."""

TABLE_DOSES = (0.3e6, 0.6e6, 1.2e6, 2.5e6, 5e6)
"""Cells/kg at which the calibration is reported (issue 3)."""

CREDIBLE_LEVEL = 0.9

SCORE_NODES = 32
"""Gauss-Hermite nodes for averages over the coagulation score in the calibration's likelihood."""

PARAMETERS = ("intercept", "slope", "coagulation_score")

PREDICTIVE = {
    "observed_pattern": (
        "every patient's outcome as recorded, including after which infusion each bleed occurred; "
        "the likelihood the model is fitted to"
    ),
    "per_patient": "each patient bled or not, as observed, whichever infusion the bleed followed",
    "sentinel": "the sentinel patients' outcomes as recorded, including after which infusion each bled",
    "sentinel_per_patient": "both sentinel patients bled, whichever infusion the bleed followed",
    "amended": "none of the 21 amended-protocol patients bled",
}
"""Posterior predictive probabilities the calibration reports: the posterior mean of P(data | parameters)
for each part or coarsening of the data named here."""

PRIORS: dict[str, NormalPrior] = {
    "weakly-informative": NormalPrior(
        "weakly-informative",
        PARAMETERS,
        mean=(math.log(0.05 / 0.95), 0.0, 0.0),
        sd=(2.0, 1.0, 0.5),
        positive=(False, True, True),
        description=(
            "intercept ~ N(logit 0.05, 2): risk per infusion at 1e6 cells/kg for the typical patient, "
            "median 5%, 90% range 0.2-58% (assumption: doses up to ~5e6 cells/kg were thought safe "
            "before the sentinel, paper); ln slope ~ N(0, 1) and the intercept's SD 2 as in the "
            "weakly informative single-agent prior of Neuenschwander et al. (Stat Med 2008;27:2420-39) "
            "used in OncoBayes2; ln coagulation effect ~ N(0, 0.5): odds ratio per SD of the score "
            "median 2.7, 90% range 1.6-7.9 (positive by the mechanism, paper Discussion; size an "
            "assumption)"
        ),
    ),
    "sceptical": NormalPrior(
        "sceptical",
        PARAMETERS,
        mean=(math.log(0.20 / 0.80), 0.0, 0.0),
        sd=(1.5, 1.0, 0.5),
        positive=(False, True, True),
        description=(
            "sceptical of safety at the amended doses: intercept ~ N(logit 0.20, 1.5), risk per "
            "infusion at 1e6 cells/kg for the typical patient median 20%, 90% range 1.8-75% "
            "(assumption); slope and coagulation effect as in the weakly informative prior"
        ),
    ),
}
"""Priors, independent normals on (intercept, ln slope, ln coagulation effect)."""


def bleeding_mechanism(
    intercept: float, slope: float, coagulation_effect: float, posterior: Posterior | None = None
) -> LogisticRisk:
    """The per-infusion severe-bleeding mechanism with the given parameters (see the module);
    ``coagulation_effect`` is the log-odds per SD of the coagulation score."""
    return LogisticRisk(
        EVENT,
        intercept,
        slope,
        REFERENCE_DOSE,
        (CovariateTerm("coagulation_score", coagulation_effect),),
        carryover_half_life_days=RESERVE_HALF_LIFE_DAYS,
        posterior=posterior,
    )


_TEMPLATE = bleeding_mechanism(0.0, 0.0, 0.0)
"""The mechanism's structure; calibration code passes the parameters to its ``risk`` explicitly."""


def _outcome_probability(
    record: BleedingRecord, params: np.ndarray, scores: np.ndarray, timing: bool = True
) -> np.ndarray:
    """P(the record's outcome for one patient | parameters, score): ``params`` (3, M) against
    ``scores`` (S,) gives (M, S).  With ``timing`` a bleed is the bleed after infusion ``bled_at``
    (none before); without, a bleed after any of the infusions the patient received."""
    p3 = params[:, :, None]
    cov = {"coagulation_score": scores}
    loads = Regimen(record.infusions, INTERVAL_DAYS).loads(RESERVE_HALF_LIFE_DAYS)
    risks = [_TEMPLATE.risk(np.asarray(record.dose * load), cov, p3) for load in loads]
    last = len(risks) if record.bled_at is None or not timing else record.bled_at - 1
    out = np.ones(np.broadcast_shapes(p3.shape[1:], scores.shape))
    for p in risks[:last]:
        out = out * (1.0 - p)
    if record.bled_at is None:
        return out
    return out * risks[last] if timing else 1.0 - out


@cache
def _score_quadrature() -> tuple[np.ndarray, np.ndarray]:
    return Population().score_quadrature(SCORE_NODES)


def record_log_likelihood(
    records: Sequence[BleedingRecord], params: np.ndarray, *, timing: bool = True
) -> np.ndarray:
    """``(len(records), M)`` log-likelihood of each record at ``params`` (3, M).

    A record with a known ``score`` uses it; otherwise (the published data) each patient's
    probability is averaged over the population's coagulation score (Gauss-Hermite).  Records with
    known scores are evaluated together, grouped by dose, infusions and outcome.  ``timing``: a
    bleed counts with the infusion it followed (the default, the likelihood the model is fitted to);
    without, only whether the patient bled.
    """
    nodes, weights = _score_quadrature()
    out = np.empty((len(records), params.shape[1]))
    groups: dict[tuple[float, int, int | None], list[int]] = {}
    for i, r in enumerate(records):
        if r.score is None:
            out[i] = r.patients * _log(_outcome_probability(r, params, nodes, timing) @ weights)
        else:
            groups.setdefault((r.dose, r.infusions, r.bled_at), []).append(i)
    for idx in groups.values():
        scores = np.array([records[i].score for i in idx])
        patients = np.array([records[i].patients for i in idx])
        out[idx] = patients[:, None] * _log(_outcome_probability(records[idx[0]], params, scores, timing)).T
    return out


def _log(p: np.ndarray) -> np.ndarray:
    """Natural log with an underflow guard: a probability that rounds to 0 counts as the smallest
    normal double (log -708), so that the optimiser's finite differences stay finite."""
    return np.log(np.maximum(p, np.finfo(float).tiny))


def fit_bleeding(
    records: Sequence[BleedingRecord],
    prior: str | NormalPrior = "weakly-informative",
    *,
    log2_draws: int = 12,
) -> Posterior:
    """Posterior of (intercept, slope, coagulation effect) given bleeding ``records`` (deterministic).

    Kept in the on-disk cache (:mod:`doseesc.cache`), keyed by the prior, the records, the draws
    and the model's constants, so that a run pays for the fit once."""
    p = _prior(prior)
    key = {
        "prior": asdict(p),
        "records": [asdict(r) for r in records],
        "log2_draws": log2_draws,
        "constants": [SCORE_NODES, RESERVE_HALF_LIFE_DAYS, INTERVAL_DAYS, REFERENCE_DOSE.value],
    }
    n_draws = (1 << log2_draws) + (1 << (log2_draws - 2))

    def fit() -> dict[str, np.ndarray]:
        post = fit_posterior(
            lambda theta: record_log_likelihood(records, theta).sum(axis=0), p, log2_draws=log2_draws
        )
        return {
            "draws": post.draws,
            "weights": post.weights,
            "log_likelihood": post.log_likelihood,
            "log_evidence": np.array(post.log_evidence),
        }

    def valid(a: dict[str, np.ndarray]) -> bool:
        try:
            return (
                a["draws"].shape == (len(PARAMETERS), n_draws)
                and a["weights"].shape == a["log_likelihood"].shape == (n_draws,)
                and bool(
                    np.all(np.isfinite(a["draws"])) and np.all(a["weights"] >= 0) and a["weights"].sum() > 0
                )
                and bool(np.isfinite(a["log_evidence"]))
            )
        except KeyError:
            return False

    a = cached_arrays("halpc-posterior", key, fit, valid)
    return Posterior(
        p.names, a["draws"], np.array(a["weights"]), a["log_likelihood"], float(a["log_evidence"])
    )


@dataclass(frozen=True, eq=False)
class RiskSummary:
    """Posterior median and credible bounds of a probability, one entry per dose."""

    median: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    def to_dict(self) -> dict[str, list[float]]:
        return {"median": self.median.tolist(), "lower": self.lower.tolist(), "upper": self.upper.tolist()}


def posterior_risk(
    posterior: Posterior, doses: Sequence[float] | np.ndarray, level: float = CREDIBLE_LEVEL
) -> tuple[RiskSummary, RiskSummary]:
    """Posterior median and central ``level`` credible interval of the per-infusion (first infusion)
    probability of severe bleeding at ``doses`` (cells/kg): for the typical patient (score 0), and
    averaged over the population's coagulation score."""
    d = np.asarray(doses, dtype=float)
    params = posterior.draws[:, None, :]
    typical = _TEMPLATE.risk(d[:, None], {}, params)
    nodes, weights = _score_quadrature()
    per_node = _TEMPLATE.risk(d[:, None, None], {"coagulation_score": nodes[:, None]}, params[:, None])
    pop = np.einsum("dsm,s->dm", per_node, weights)
    tail = (1 - level) / 2
    probs = [0.5, tail, 1 - tail]
    return RiskSummary(*posterior.quantiles(typical, probs)), RiskSummary(*posterior.quantiles(pop, probs))


@dataclass(frozen=True, eq=False)
class HalpcCalibration:
    """The calibrated bleeding model under one prior (see :func:`calibrate_halpc`).

    ``typical`` and ``population`` summarise the per-infusion (first-infusion) probability of severe
    bleeding at ``doses`` (cells/kg), for the typical patient (score 0) and averaged over the
    population; ``predictive`` holds the posterior predictive probabilities of :data:`PREDICTIVE`.
    ``sentinel_dose`` is the reading of the sentinel's dose (a key of
    :data:`~doseesc.models.halpc_records.SENTINEL_READINGS`).
    """

    prior: NormalPrior
    cohorts: str
    sentinel_dose: str
    records: tuple[BleedingRecord, ...]
    posterior: Posterior
    doses: np.ndarray
    typical: RiskSummary
    population: RiskSummary
    predictive: dict[str, float]
    level: float = CREDIBLE_LEVEL

    def risk(self, doses: Sequence[float] | np.ndarray) -> tuple[RiskSummary, RiskSummary]:
        """(typical patient, population) summaries of the per-infusion risk at ``doses`` (cells/kg)."""
        return posterior_risk(self.posterior, doses, self.level)

    @property
    def point(self) -> tuple[float, float, float]:
        """Posterior medians of (intercept, slope, coagulation effect): the fixed-parameter point."""
        return posterior_point(self.posterior)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": "halpc-bleeding",
            "prior": self.prior.to_dict(),
            "cohort_assumption": self.cohorts,
            "sentinel_dose": self.sentinel_dose,
            "sentinel_dose_reading": SENTINEL_READINGS[self.sentinel_dose],
            "data": [
                {
                    "label": r.label,
                    "patients": r.patients,
                    "dose_cells_per_kg": r.dose,
                    "infusions": r.infusions,
                    "interval_days": INTERVAL_DAYS,
                    "bled_after_infusion": r.bled_at,
                    "source": r.source,
                }
                for r in self.records
            ],
            "reserve_half_life_days": RESERVE_HALF_LIFE_DAYS,
            "credible_level": self.level,
            "dose_unit": "cells/kg",
            "doses": self.doses.tolist(),
            "per_infusion_risk": {"typical": self.typical.to_dict(), "population": self.population.to_dict()},
            "posterior_predictive": dict(self.predictive),
            "posterior_predictive_definitions": dict(PREDICTIVE),
            "prior_predictive": math.exp(self.posterior.log_evidence),
            "parameters": self.posterior.summary(self.level),
            "effective_sample_size": self.posterior.ess,
            "draws": int(self.posterior.weights.shape[0]),
        }


def _prior(prior: str | NormalPrior) -> NormalPrior:
    if isinstance(prior, NormalPrior):
        return prior
    if prior not in PRIORS:
        raise ValueError(f"prior: unknown prior {prior!r}; allowed: {', '.join(PRIORS)}")
    return PRIORS[prior]


def posterior_point(posterior: Posterior) -> tuple[float, float, float]:
    """Posterior medians of (intercept, slope, coagulation effect)."""
    med = posterior.quantiles(posterior.draws, [0.5])[0]
    return float(med[0]), float(med[1]), float(med[2])


def calibration_records(
    cohorts: str = "fig2", sentinel_dose: str = "per_infusion"
) -> tuple[BleedingRecord, ...]:
    """The sentinel records under the ``sentinel_dose`` reading, then the amended-protocol cohorts
    under the ``cohorts`` assumption."""
    if cohorts not in COHORTS:
        raise ValueError(f"cohorts: unknown assumption {cohorts!r}; allowed: {', '.join(COHORTS)}")
    return sentinel_records(sentinel_dose) + COHORTS[cohorts]


@cache
def bleeding_posterior(
    prior: str | NormalPrior = "weakly-informative",
    cohorts: str = "fig2",
    sentinel_dose: str = "per_infusion",
) -> Posterior:
    """The posterior of :func:`calibrate_halpc` alone (what the model for the engines needs), without
    the calibration's summaries."""
    p = _prior(prior)
    return fit_bleeding(calibration_records(cohorts, sentinel_dose), p)


@cache
def calibrate_halpc(
    prior: str | NormalPrior = "weakly-informative",
    cohorts: str = "fig2",
    sentinel_dose: str = "per_infusion",
) -> HalpcCalibration:
    """Posterior of the bleeding model given the sentinel findings and the 21 amended-protocol
    patients, under ``prior`` (a name in :data:`PRIORS` or a :class:`NormalPrior` over
    :data:`PARAMETERS`), the ``cohorts`` assumption (a key of :data:`COHORTS`) and the reading of
    the sentinel's dose (a key of :data:`~doseesc.models.halpc_records.SENTINEL_READINGS`).

    Deterministic (fixed quasi-random seed) and cached: calls with the same arguments return the
    same object.
    """
    p = _prior(prior)
    posterior = bleeding_posterior(prior, cohorts, sentinel_dose)
    records = calibration_records(cohorts, sentinel_dose)
    w = posterior.weights
    n_sentinel = len(SENTINEL)

    def predictive(rows: np.ndarray) -> float:
        return float(w @ np.exp(rows.sum(axis=0)))

    exact = record_log_likelihood(records, posterior.draws)
    coarse = record_log_likelihood(records, posterior.draws, timing=False)
    values = {
        "observed_pattern": posterior.predictive(),
        "per_patient": predictive(coarse),
        "sentinel": predictive(exact[:n_sentinel]),
        "sentinel_per_patient": predictive(coarse[:n_sentinel]),
        "amended": predictive(exact[n_sentinel:]),
    }
    typical, population = posterior_risk(posterior, TABLE_DOSES, CREDIBLE_LEVEL)
    return HalpcCalibration(
        p, cohorts, sentinel_dose, records, posterior, np.array(TABLE_DOSES), typical, population, values
    )


def other_dlt(p_reference: float, slope: float = 1.0) -> LogisticRisk:
    """An optional non-bleeding DLT mechanism ("other DLT"): per-infusion probability
    ``p_reference`` at 1e6 cells/kg for every patient, rising with ``slope`` per unit of log dose,
    no carry-over between infusions.  Not calibrated: besides the two bleeding SUSARs, no serious or
    severe treatment-related event was reported (0 of 21 patients at 0.6-1.2e6 cells/kg, paper; a
    95% upper bound of 13% per patient), so its size is the user's assumption."""
    if not 0 < p_reference < 1:
        raise ValueError(f"other_dlt: p_reference must be in (0, 1), got {p_reference}")
    from scipy import special  # here: importing scipy.special adds ~0.3 s to every start-up

    return LogisticRisk("other DLT", float(special.logit(p_reference)), slope, REFERENCE_DOSE)


def halpc_bleeding_model(
    doses: DoseLevels,
    regimen: Regimen | None = None,
    *,
    posterior: bool = False,
    prior: str | NormalPrior = "weakly-informative",
    cohorts: str = "fig2",
    sentinel_dose: str = "per_infusion",
    parameters: tuple[float, float, float] | None = None,
    population: Population | None = None,
    other: LogisticRisk | None = None,
) -> MechanismModel:
    """The HALPC toxicity model for the engines: DLT = severe bleeding or (optionally) ``other``,
    event ``"severe bleeding"`` tallied per dose.

    ``doses`` in cells/kg (or absolute cells: divided by each patient's body weight; other units
    are an error).  ``regimen``: infusions per patient and days between them (default one infusion).
    Parameters: with ``posterior`` every simulated trial draws its own from the calibration under
    ``prior``, ``cohorts`` and ``sentinel_dose``; otherwise they are fixed, at ``parameters`` =
    (intercept, slope, coagulation effect) when given, else at the calibration's posterior medians.
    Patients' covariates come from ``population`` (default:
    :class:`~doseesc.population.Population`, HALPC eligibility).
    """
    if posterior and parameters is not None:
        raise ValueError("parameters: fixed parameters and posterior draws exclude each other")
    if posterior:
        post = bleeding_posterior(prior, cohorts, sentinel_dose)
        bleeding = bleeding_mechanism(*posterior_point(post), posterior=post)
    else:
        point = parameters or posterior_point(bleeding_posterior(prior, cohorts, sentinel_dose))
        bleeding = bleeding_mechanism(*point)
    return MechanismModel(
        doses,
        (bleeding,) if other is None else (bleeding, other),
        regimen or Regimen(),
        population or Population(),
        events=(EVENT,),
    )


def format_calibration(calibrations: Sequence[HalpcCalibration], width: int = 100) -> str:
    """Plain-text report of calibrations (e.g. one per prior), as printed by the command line."""

    def wrap(text: str) -> list[str]:
        return textwrap.wrap(text, width, subsequent_indent="    ")

    def risk(p: float) -> str:  # two significant digits: the low doses' risks differ by orders of magnitude
        return percent(p, small="significant")

    lines = wrap(
        "HALPC severe-bleeding model: logit P(bleed per infusion) = intercept + slope x ln(load / 1e6 "
        f"cells/kg) + coagulation effect x score; load = dose + earlier infusions decaying with half-life "
        f"{RESERVE_HALF_LIFE_DAYS:g} days (assumption); score: coagulation depletion (INR, fibrinogen, "
        "platelets), SD 1 in the population."
    )
    for cal in calibrations:
        pct = percent(cal.level, "g")
        lines += ["", *wrap(f"Prior {cal.prior.name}: {cal.prior.description}.")]
        lines += wrap(
            f"Data (cohort assumption {cal.cohorts!r}; sentinel dose {cal.sentinel_dose!r}: "
            f"{SENTINEL_READINGS[cal.sentinel_dose]}):"
        )
        for r in cal.records:
            outcome = "no severe bleeding" if r.bled_at is None else f"bled after infusion {r.bled_at}"
            lines += wrap(
                f"  {r.label}: {r.patients} x {r.infusions} infusion(s) of {r.dose / 1e6:g}e6 cells/kg, "
                f"{outcome} ({r.source})"
            )
        lines += [
            f"Per-infusion P(severe bleeding), posterior median [{pct} credible interval]:",
            f"  {'dose (1e6 cells/kg)':>19}  {'typical patient':<25}  population",
        ]
        for i, d in enumerate(cal.doses):
            cells = [
                f"{risk(s.median[i])} [{risk(s.lower[i])}, {risk(s.upper[i])}]"
                for s in (cal.typical, cal.population)
            ]
            lines.append(f"  {d / 1e6:>19g}  {cells[0]:<25}  {cells[1]}")
        pred = cal.predictive
        lines += wrap(
            f"Posterior predictive P(observed pattern) = {pred['observed_pattern']:.3g}: every outcome as "
            f"recorded, including after which infusion each bleed occurred (sentinel part: "
            f"{pred['sentinel']:.3g}; amended-protocol part: {pred['amended']:.3g}); prior predictive "
            f"{math.exp(cal.posterior.log_evidence):.3g}."
        )
        lines += wrap(
            f"Posterior predictive P(each patient bled or not, as observed) = {pred['per_patient']:.3g}, "
            f"whichever infusion a bleed followed (sentinel part: {pred['sentinel_per_patient']:.3g})."
        )
        lines.append(
            f"Importance sampling: effective sample size {cal.posterior.ess:.0f} of "
            f"{cal.posterior.weights.shape[0]} draws."
        )
    return "\n".join(lines)
