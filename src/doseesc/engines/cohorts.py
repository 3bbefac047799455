"""A cohort's outcome drawn at once: its exact distribution, inverted with one uniform.

Each patient falls in one category, by where the patient's uniform ``u`` lies against the model's
probabilities (:class:`~doseesc.models.base.ToxicityModel`): with an event tallied (a kind of DLT),
``u < P(event)`` is the event, ``P(event) <= u < P(DLT)`` another DLT, otherwise ``u < P(DLT)`` a
DLT; where the design reads grade 2, ``P(DLT) <= u < P(grade >= 2)`` a grade 2; the rest none.
Given the trial's kind, the patients of a cohort are independent and alike (the model averages over
the population), so the counts per category of a cohort of ``s`` patients are multinomial:
``s! / (c_1! ... c_m! c_0!) p_1^c_1 ... p_m^c_m p_0^c_0``.  Its cumulative distribution, over the
joint outcomes ordered by DLTs, then grade-2 toxicities, then events, is tabulated once per (trial
kind, dose, cohort size); a cohort's outcome is the number of cumulative thresholds at or below its
one uniform.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class CohortOutcomes:
    """The joint outcomes of a cohort of up to ``max_size`` patients, for a model's probability
    rows: ``bounds`` are the rows whose probabilities bound the categories, in increasing order."""

    bounds: tuple[int, ...]
    counts: np.ndarray
    """(J, m) patients per category (bounds order) of each joint outcome, sum at most ``max_size``."""
    dlt: np.ndarray
    """(J,) DLTs of each outcome."""
    events: np.ndarray
    """(J,) events of each outcome (0 without an event tallied)."""
    g2: np.ndarray
    """(J,) grade-2 toxicities of each outcome (0 when the design does not read them)."""
    lookup: np.ndarray
    """Outcome index of a vector of counts per category: ``lookup[c_1, ..., c_m]``."""

    @classmethod
    def of(cls, n_events: int, grade2: bool, max_size: int) -> CohortOutcomes:
        """Outcomes for a model with ``n_events`` (0 or 1) event rows, reading its grade-2 row when
        ``grade2`` (the last row), for cohorts of up to ``max_size``."""
        if n_events > 1:
            raise ValueError(f"the Monte Carlo engine tallies at most one kind of DLT, got {n_events}")
        bounds = ((1, 0) if n_events else (0,)) + ((1 + n_events,) if grade2 else ())
        m = len(bounds)
        counts = np.array(
            [c for c in itertools.product(range(max_size + 1), repeat=m) if sum(c) <= max_size],
            dtype=np.int64,
        ).reshape(-1, m)
        dlt = counts[:, 0] + (counts[:, 1] if n_events else 0)
        events = counts[:, 0] if n_events else np.zeros(len(counts), dtype=np.int64)
        g2 = counts[:, -1] if grade2 else np.zeros(len(counts), dtype=np.int64)
        # Ordered by DLTs, then grade 2, then events: the outcome the design reads is then a run of
        # the uniform's range, and a model tallying an event draws the same DLT counts as without.
        order = np.lexsort((events, g2, dlt))
        counts, dlt, events, g2 = counts[order], dlt[order], events[order], g2[order]
        lookup = np.full((max_size + 1,) * m, -1, dtype=np.int64)
        lookup[tuple(counts.T)] = np.arange(len(counts))
        return cls(bounds, counts, dlt, events, g2, lookup)

    def category_probabilities(self, q: np.ndarray) -> np.ndarray:
        """``(m + 1, ...)`` per-patient probabilities of each category, the last being none, from
        probability rows ``q`` (rows first)."""
        b = np.stack([q[r] for r in self.bounds])
        edges = np.maximum.accumulate(np.concatenate([np.zeros_like(b[:1]), b, np.ones_like(b[:1])]), axis=0)
        return np.clip(np.diff(edges, axis=0), 0.0, 1.0)

    def thresholds(self, table: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        """``(J - 1, n_kinds, n_doses, len(sizes))`` cumulative probabilities of the outcomes, from a
        probability table ``(n_kinds, rows, n_doses)``: outcome ``j`` of a cohort of ``sizes[i]``
        is drawn by uniform ``u`` when exactly ``j`` thresholds are at or below ``u``.  Thresholds
        from the last outcome the cohort can show on are 1, so that rounding never yields an
        impossible outcome."""
        pi = self.category_probabilities(np.moveaxis(table, 1, 0))  # (m + 1, kinds, doses)
        total = self.counts.sum(axis=1)
        n_out = self.counts.shape[0]
        out = np.empty((n_out, *pi.shape[1:], len(sizes)))
        for i, s in enumerate(sizes):
            prob = np.zeros((n_out, *pi.shape[1:]))
            for j, c in enumerate(self.counts):
                if total[j] > s:
                    continue
                coef = math.factorial(s) / math.prod(math.factorial(int(k)) for k in (*c, s - total[j]))
                term = np.full(pi.shape[1:], coef)
                for k, ck in enumerate(c):
                    if ck:
                        term = term * pi[k] ** ck
                prob[j] = term * pi[-1] ** (s - total[j])
            cdf = np.cumsum(prob, axis=0)
            possible = (prob > 0) & (total <= s).reshape((-1,) + (1,) * (prob.ndim - 1))
            last = n_out - 1 - np.argmax(possible[::-1], axis=0)  # the last outcome with probability > 0
            cdf[np.arange(n_out).reshape((-1,) + (1,) * (prob.ndim - 1)) >= last] = 1.0
            out[..., i] = cdf
        return out[:-1]
