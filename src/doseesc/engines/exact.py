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
from scipy.stats import binom

from doseesc.designs.base import Design, compile_design
from doseesc.models.table import validate_probabilities
from doseesc.results import OperatingCharacteristics


def exact(design: Design, p_tox: np.ndarray) -> OperatingCharacteristics:
    """Exact operating characteristics of ``design`` when every patient at dose ``d`` has a DLT
    with probability ``p_tox[d]`` (for heterogeneous patients: the population average)."""
    p = validate_probabilities(p_tox)
    if p.shape[0] != design.n_doses:
        raise ValueError(f"p_tox has {p.shape[0]} doses but the design has {design.n_doses}")
    table = compile_design(design)
    n_live, n_doses, levels = table.n_live, table.n_doses, table.max_patients + 1
    k = np.arange(table.max_size + 1)
    pk = binom.pmf(k, table.size[:, None], p[table.dose][:, None])  # (n_live, max_size + 1)

    m0 = np.zeros((n_live + n_doses + 1, levels))
    m1 = np.zeros_like(m0)
    m0[0, 0] = 1.0
    for t in range(levels):
        live = np.flatnonzero(m0[:n_live, t])
        if live.size == 0:
            continue
        dest = table.next[live]
        ok = dest >= 0
        src = np.broadcast_to(live[:, None], dest.shape)[ok]
        kk = np.broadcast_to(k, dest.shape)[ok]
        w = pk[src, kk]
        at = (dest[ok], t + table.size[src])
        np.add.at(m0, at, m0[src, t] * w)
        np.add.at(m1, at, (m1[src, t] + kk * m0[src, t]) * w)

    visits0, visits1 = m0[:n_live].sum(axis=1), m1[:n_live].sum(axis=1)
    absorbed = m0[n_live:]
    return OperatingCharacteristics.from_sums(
        table=table,
        weights=visits0[:, None] * pk,
        selected=absorbed.sum(axis=1),
        total_n=absorbed.sum(axis=0),
        total_dlt=float(m1[n_live:].sum()),
        # E[Y^2] telescopes over cohorts: E[(Y + k)^2 - Y^2] = 2k E[Y] + k^2 on each (state, k).
        total_dlt_sq=float((pk * (2 * k * visits1[:, None] + k**2 * visits0[:, None])).sum()),
        n_trials=None,
        design=design.name,
        options=design.options,
        engine="exact",
        p_tox=p,
    )
