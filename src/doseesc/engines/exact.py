"""Exact operating characteristics by walking every cohort outcome with its probability.

The design's rule is tabulated over its reachable states (equal states merged, see
:func:`doseesc.designs.compile_design`), and probability mass flows through the table one level of
total sample size at a time, so that the distribution of the sample size comes out with the
selection probabilities.  Alongside the mass ``m0[s, t]`` (probability of reaching state ``s``
having treated ``t`` patients) flows ``m1[s, t]``, the expected DLT count so far on that event,
which gives the second moment of the total DLT count without tracking its whole distribution.
"""

from __future__ import annotations

import numpy as np

from doseesc.designs.base import DecisionTable, Design, compile_design
from doseesc.metrics import DLT_THRESHOLDS, Target
from doseesc.models.table import validate_probabilities
from doseesc.results import OperatingCharacteristics


def outcome_probabilities(table: DecisionTable, p_dlt: np.ndarray, p_grade2: np.ndarray) -> np.ndarray:
    """(n_live, n_codes) probability of each cohort outcome in each live state, for single-course
    cohorts of independent patients: multinomial over (DLT, grade 2 only, neither)."""
    from scipy.special import comb  # here: the Monte Carlo engine's start-up should not wait for scipy

    a, b = table.decode("dlt"), table.decode("g2")
    late = table.decode("late_dlt") + table.decode("late_g2")
    pd = p_dlt[table.dose][:, None]
    # A rule that does not read grade 2 sees only DLT / no DLT.
    pg = p_grade2[table.dose][:, None] if "g2" in table.outcomes else np.zeros_like(pd)
    m = table.size[:, None]
    c = m - a - b
    rest = np.clip(1.0 - pd - pg, 0.0, 1.0)  # rounding can leave -1e-17 when p_dlt + p_grade2 = 1
    with np.errstate(invalid="ignore"):
        pmf = comb(m, a) * comb(m - a, b) * pd**a * pg**b * rest ** np.maximum(c, 0)
    return np.where((c >= 0) & (late == 0), pmf, 0.0)


def exact(
    design: Design,
    p_tox: np.ndarray,
    p_grade2: np.ndarray | None = None,
    *,
    target: Target | float | None = None,
) -> OperatingCharacteristics:
    """Exact operating characteristics of ``design`` when every patient at dose ``d`` has a DLT
    with probability ``p_tox[d]`` (for heterogeneous patients: the population average), in a
    single course.

    ``p_grade2[d]`` is the probability of a grade-2 (and no worse) toxicity, required by designs
    whose rule counts grade-2 events (accelerated titration).  ``target`` (a DLT probability, or a
    :class:`~doseesc.metrics.Target` with a band) adds the metrics of :mod:`doseesc.metrics`,
    computed exactly.
    """
    target = Target.of(target, design)
    p = validate_probabilities(p_tox)
    if p.shape[0] != design.n_doses:
        raise ValueError(f"p_tox has {p.shape[0]} doses but the design has {design.n_doses}")
    if p_grade2 is None:
        if "g2" in design.outcomes:
            raise ValueError(f"p_grade2 is required: the {design.name} design counts grade-2 toxicities")
        g = np.zeros_like(p)
    else:
        g = validate_probabilities(p_grade2, "p_grade2")
        if g.shape != p.shape or np.any(p + g > 1 + 1e-12):
            raise ValueError("p_grade2 must have one entry per dose, with p_tox + p_grade2 <= 1")
    table = compile_design(design)
    n_live, n_doses, levels = table.n_live, table.n_doses, table.max_patients + 1
    pk = outcome_probabilities(table, p, g)
    k = table.decode("dlt")

    m0 = np.zeros((n_live + n_doses + 1, levels))
    m1 = np.zeros_like(m0)
    m0[0, 0] = 1.0
    # With a target, also the distribution of the DLTs so far, capped at DLT_THRESHOLDS ("or more"),
    # kept for the levels still to come only (a ring over t; a cohort reaches at most max_size on).
    ring = table.max_size + 1
    capped = np.zeros((m0.shape[0], ring, DLT_THRESHOLDS + 1)) if target is not None else None
    absorbed_dlt = np.zeros(DLT_THRESHOLDS + 1)
    if capped is not None:
        capped[0, 0, 0] = 1.0
    for t in range(levels):
        if capped is not None:  # trials that ended with t patients: their DLT totals, then free the slot
            absorbed_dlt += capped[n_live:, t % ring].sum(axis=0)
            capped[n_live:, t % ring] = 0.0
        live = np.flatnonzero(m0[:n_live, t])
        if live.size == 0:
            continue
        dest = table.next[live]
        ok = (dest >= 0) & (pk[live] > 0)
        src = np.broadcast_to(live[:, None], dest.shape)[ok]
        code = np.broadcast_to(np.arange(dest.shape[1]), dest.shape)[ok]
        kk = k[code]
        w = pk[src, code]
        at = (dest[ok], t + table.size[src])
        np.add.at(m0, at, m0[src, t] * w)
        np.add.at(m1, at, (m1[src, t] + kk * m0[src, t]) * w)
        if capped is not None:
            so_far = np.minimum(np.arange(DLT_THRESHOLDS + 1) + kk[:, None], DLT_THRESHOLDS)
            slot = (at[1] % ring)[:, None]
            np.add.at(capped, (at[0][:, None], slot, so_far), capped[src, t % ring] * w[:, None])
            capped[:n_live, t % ring] = 0.0  # level t is done; its slot serves level t + ring

    visits0, visits1 = m0[:n_live].sum(axis=1), m1[:n_live].sum(axis=1)
    absorbed = m0[n_live:]
    return OperatingCharacteristics.from_sums(
        design=design,
        table=table,
        weights=visits0[:, None] * pk,
        selected=absorbed.sum(axis=1),
        total_n=absorbed.sum(axis=0),
        total_dlt=float(m1[n_live:].sum()),
        # E[Y^2] telescopes over cohorts: E[(Y + k)^2 - Y^2] = 2k E[Y] + k^2 on each (state, k).
        total_dlt_sq=float((pk * (2 * k * visits1[:, None] + k**2 * visits0[:, None])).sum()),
        total_dlt_counts=absorbed_dlt,
        n_trials=None,
        engine="exact",
        p_tox=p,
        target=target,
    )
