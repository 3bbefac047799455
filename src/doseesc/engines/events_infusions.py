"""Which infusion a DLT follows, and how many infusions each dose level gives, for the events engine.

A mechanism model (:class:`~doseesc.models.mechanisms.MechanismModel`) gives each administration
``k`` of a regimen its own risk: the mechanisms act with the load ``L_k`` (the dose plus what is left
of earlier ones), and a patient has a DLT at administration ``k`` when some mechanism fires there,

    r_k = 1 - prod_m (1 - p_m(L_k)).

Administrations fire independently given the patient, and a DLT stops treatment, so the first DLT
follows administration ``k`` with probability ``r_k prod_{j<k} (1 - r_j)``, and these add up to the
regimen's risk ``1 - prod_j (1 - r_j)`` (the model's P(DLT)).  Given a DLT,

    P(first DLT after infusion k | DLT) = r_k prod_{j<k} (1 - r_j) / (1 - prod_j (1 - r_j)).

The engine does not draw a patient's covariates: given the trial's kind, patients are independent
draws from the population, so the joint law of (DLT, infusion) of one patient is the population
average of the per-patient law (as for P(DLT) itself, :class:`~doseesc.models.base.ToxicityModel`).
So the numerator and the denominator above are averaged over the population (the model's own
quadrature or quasi-random virtual patients) for each trial kind and dose level, and the engine
draws the infusion from their ratio.  A model whose levels differ in regimen
(:class:`~doseesc.models.regimens.LevelRegimens`) gives each level its regimen's figures.  A table of
probabilities per dose gives no per-infusion risks: the engine then draws the infusion uniformly.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

_MEMO: weakref.WeakKeyDictionary[Any, np.ndarray] = weakref.WeakKeyDictionary()
"""First-infusion tables already computed, per model object (a run computes one per model)."""


def level_regimens(model: Any) -> list[tuple[int, float]] | None:
    """Each dose level's (infusions, days between them) from the model's regimen(s), or None for a
    model without one (a table of probabilities)."""
    if hasattr(model, "regimen_index"):  # LevelRegimens: one mechanism model per regimen
        return [
            (m.regimen.infusions, m.regimen.interval_days)
            for m in (model.models[r] for r in model.regimen_index)
        ]
    if hasattr(model, "mechanisms") and hasattr(model, "regimen"):
        return [(model.regimen.infusions, model.regimen.interval_days)] * model.n_doses
    return None


def first_infusion_cdf(model: Any) -> np.ndarray | None:
    """``(n_kinds, n_doses, infusions)``: P(first DLT after infusion ``<= k`` | DLT) per trial kind and
    level (the most infusions of any level; 1 from a level's last infusion on), or None when the model
    gives no per-infusion risks.  Where a level cannot have a DLT the infusions are equally likely."""
    if level_regimens(model) is None:
        return None
    if model not in _MEMO:
        if hasattr(model, "regimen_index"):
            parts = [_first_dlt(m) for m in model.models]
            width = max(p.shape[1] for p in parts)
            first = np.zeros((parts[0].shape[0], width, model.n_doses))
            for k, (r, d) in enumerate(zip(model.regimen_index, model.dose_index, strict=True)):
                first[:, : parts[r].shape[1], k] = parts[r][:, :, d]
        else:
            first = _first_dlt(model)
        _MEMO[model] = _conditional_cdf(first)
    return _MEMO[model]


def _conditional_cdf(first: np.ndarray) -> np.ndarray:
    """From ``(kinds, infusions, doses)`` probabilities of a first DLT after each infusion, the
    conditional CDF ``(kinds, doses, infusions)`` given a DLT."""
    cum = np.cumsum(np.moveaxis(first, 1, 2), axis=2)
    total = cum[..., -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        cdf = np.where(total > 0, cum / total, (np.arange(cum.shape[2]) + 1) / cum.shape[2])
    # The last infusion with any probability closes the CDF exactly, so that rounding never leaves
    # a uniform above it (nor picks an infusion the level does not give).
    last = np.where(total > 0, np.argmax(cum >= total, axis=2)[..., None], cum.shape[2] - 1)
    cdf[np.arange(cum.shape[2]) >= last] = 1.0
    return cdf


def _first_dlt(model: Any) -> np.ndarray:
    """``(n_kinds, infusions, n_doses)``: P(first DLT after infusion k), averaged over the population
    (the same virtual patients and weights as the model's probability table)."""
    from doseesc.models.mechanisms import any_mechanism
    from doseesc.models.units import convert_dose

    post = next((m.posterior for m in model.mechanisms if m.posterior is not None), None)
    n_kinds = 1 if post is None else post.weights.shape[0]
    n_inf = model.regimen.infusions
    out = np.empty((n_kinds, n_inf, model.n_doses))
    for kinds, virtual, vw in model.virtual_groups(n_kinds):
        virtual = {k: v[:, None] for k, v in virtual.items()}  # virtual patients x kinds
        step = max(1, (1 << 20) // (vw.shape[0] * n_inf))
        for lo in range(0, kinds.shape[0], step):
            these = kinds[lo : lo + step]
            shape = (vw.shape[0], these.shape[0])
            for d, dose in enumerate(model.doses.values):
                per_mechanism = []
                for m in model.mechanisms:
                    x = convert_dose(
                        np.asarray(dose), model.doses.unit, m.unit, "doses", virtual.get("weight")
                    )
                    params = m.parameters()[:, None] if m.posterior is None else m.posterior.draws[:, these]
                    loads = model.regimen.loads(m.carryover_half_life_days)
                    per_mechanism.append(
                        [np.broadcast_to(m.risk(x * load, virtual, params), shape) for load in loads]
                    )
                survive = np.ones(shape)
                for k in range(n_inf):
                    r_k = any_mechanism([risks[k] for risks in per_mechanism])
                    out[these, k, d] = vw @ (survive * r_k)
                    survive = survive * (1.0 - r_k)
    return out


__all__ = ["first_infusion_cdf", "level_regimens"]
