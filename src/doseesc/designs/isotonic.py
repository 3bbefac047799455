"""Isotonic estimates of P(DLT) and the "closest to the target" final selection, row by row.

The interval designs (BOIN, Keyboard, mTPI-2, i3+3) end the same way: the observed DLT rates of the
treated, non-eliminated doses are smoothed by weighted isotonic regression (pool adjacent
violators) so that they increase with dose, and the dose whose estimate is closest to the target
is the MTD (Liu & Yuan, J R Stat Soc C 2015;64:507-23, section 2.3; the R package BOIN's
``select.mtd``).  Both steps work on many trials at once: a leading trial axis, one column per
dose (``K`` is small, so the loops run over doses, never over trials).

API (numpy only; all arrays ``(trials, K)``, columns in increasing dose):

``pava(values, weights, mask)``
    Weighted least-squares non-decreasing fit of ``values`` over the columns where ``mask`` is
    True, taken in column order (weights must be positive there).  Columns outside the mask are
    skipped, so that a candidate set such as "treated and not eliminated" needs no compaction;
    they come out as NaN.
``select_closest(estimates, candidates, target)``
    Per row, the index of the candidate column whose estimate is closest to ``target`` after
    adding ``1e-10 * k`` to the ``k``-th candidate (``k = 1, 2, ...`` in column order), the BOIN
    package's tie-break (among doses pooled to one estimate: the lowest when it lies above the
    target, the highest when below); an exact tie goes to the lower column; -1 for a row
    without candidates.

A typical final selection::

    fitted = pava((y + 0.05) / (n + 0.1), 1 / variance, candidates)
    mtd = select_closest(fitted, candidates, target)
"""

from __future__ import annotations

import numpy as np

TIE_BREAK = 1e-10
"""Added ``k`` times to the ``k``-th candidate's estimate (BOIN's ``select.mtd``)."""


def pava(values: np.ndarray, weights: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Weighted isotonic (non-decreasing) regression of each row over its masked columns.

    The classical stack form of pool-adjacent-violators: columns enter one at a time as blocks,
    and while the last block's mean is below the one before, the two are pooled (weighted mean,
    summed weights).  Every row runs the same steps; a row stops merging when it has no violator.
    """
    values, weights, mask = np.broadcast_arrays(
        np.asarray(values, dtype=float), np.asarray(weights, dtype=float), np.asarray(mask, dtype=bool)
    )
    rows, k = values.shape
    mean = np.zeros((rows, k))  # block b of a row: its mean, weight and number of masked columns
    weight = np.zeros((rows, k))
    count = np.zeros((rows, k), dtype=np.int64)
    top = np.full(rows, -1)  # index of each row's last block
    every = np.arange(rows)
    for j in range(k):
        enter = np.flatnonzero(mask[:, j])
        top[enter] += 1
        mean[enter, top[enter]] = values[enter, j]
        weight[enter, top[enter]] = weights[enter, j]
        count[enter, top[enter]] = 1
        while True:
            last, prev = top[enter], top[enter] - 1
            pool = prev >= 0
            pool[pool] = mean[enter[pool], prev[pool]] > mean[enter[pool], last[pool]]
            if not pool.any():
                break
            r, a, b = enter[pool], prev[pool], last[pool]
            w = weight[r, a] + weight[r, b]
            mean[r, a] = (mean[r, a] * weight[r, a] + mean[r, b] * weight[r, b]) / w
            weight[r, a] = w
            count[r, a] += count[r, b]
            top[r] -= 1
            enter = r
    # Masked column with rank i (0-based among the row's masked columns) lies in the block whose
    # cumulative count first exceeds i.
    rank = np.cumsum(mask, axis=1) - 1
    ends = np.cumsum(np.where(np.arange(k) <= top[:, None], count, 0), axis=1)
    block = np.zeros((rows, k), dtype=np.int64)
    for b in range(k - 1):
        block += rank >= ends[:, b : b + 1]
    fitted = mean[every[:, None], np.minimum(block, k - 1)]
    return np.where(mask, fitted, np.nan)


def select_closest(estimates: np.ndarray, candidates: np.ndarray, target: float) -> np.ndarray:
    """Per row, the candidate column closest to ``target`` with BOIN's tie-break (module docstring);
    -1 where a row has no candidate."""
    candidates = np.asarray(candidates, dtype=bool)
    k = np.cumsum(candidates, axis=1)
    distance = np.where(candidates, np.abs(np.asarray(estimates) + TIE_BREAK * k - target), np.inf)
    best = np.argmin(distance, axis=1)  # the first minimum: an exact tie goes to the lower dose
    return np.where(candidates.any(axis=1), best, -1)


def select_mtd(n: np.ndarray, y: np.ndarray, eliminated: np.ndarray, target: float) -> np.ndarray:
    """The final selection of the R package BOIN (``select.mtd``), shared by the interval designs,
    on ``(trials, n_doses)`` final counts: among treated doses not ``eliminated``, the isotonic
    estimates of ``(y + 0.05) / (n + 0.1)`` weighted by their inverse variances
    ``(y + 0.05)(n - y + 0.05) / ((n + 0.1)^2 (n + 1.1))``, and the one closest to ``target``
    (:func:`select_closest`); -1 where no dose is left (the lowest eliminates all)."""
    candidates = (n > 0) & ~eliminated
    estimate = (y + 0.05) / (n + 0.1)
    variance = (y + 0.05) * (n - y + 0.05) / ((n + 0.1) ** 2 * (n + 1.1))
    return select_closest(pava(estimate, 1 / variance, candidates), candidates, target)
