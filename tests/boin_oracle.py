"""An independent scalar BOIN, written straight from the R package BOIN's rules (``get.boundary``,
``get.oc``, ``select.mtd``; Liu & Yuan, J R Stat Soc C 2015;64:507-23), for the tests.

Nothing here comes from :mod:`doseesc`: the boundaries use ``math.log``, the posterior tail is the
Beta-binomial identity ``P(p > T | Beta(1+y, 1+n-y)) = P(Binomial(n+1, T) <= y)`` in exact
fractions, the final selection is R's ``pava`` loop on plain lists, and :func:`operating` walks every
sequence of cohort outcomes (plain recursion, exact binomial probabilities as ``Fraction``).
Doses are 0-based.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import cache


@dataclass(frozen=True)
class Rules:
    target: float
    cohort: int
    total: int  # N
    p_saf: float | None = None
    p_tox: float | None = None
    cutoff: float = 0.95
    extrasafe: bool = False
    offset: float = 0.05
    earlystop: int = 100


@cache
def tail(target: float, n: int, y: int) -> Fraction:
    """P(p > target | y DLTs in n, uniform prior), exactly (in the float target's binary value)."""
    t = Fraction(target)
    return sum((math.comb(n + 1, k) * t**k * (1 - t) ** (n + 1 - k) for k in range(y + 1)), Fraction(0))


@cache
def boundaries(r: Rules, n: int) -> tuple[int, int, int | None]:
    """Escalate if y <= e, de-escalate if y >= d, eliminate if y >= elim (None: never), at n."""
    t = r.target
    ps = 0.6 * t if r.p_saf is None else r.p_saf
    pt = 1.4 * t if r.p_tox is None else r.p_tox
    le = math.log((1 - ps) / (1 - t)) / math.log(t * (1 - ps) / (ps * (1 - t)))
    ld = math.log((1 - t) / (1 - pt)) / math.log(pt * (1 - t) / (t * (1 - pt)))
    e = math.floor(le * n)
    m = round(ld * n)
    d = m + 1 if abs(m - ld * n) < 1e-12 else math.ceil(ld * n)
    elim = None
    if n >= 3:
        elim = next((y for y in range(1, n + 1) if tail(t, n, y) > Fraction(r.cutoff)), None)
    if elim is not None and elim < d:
        d = elim
    return e, d, elim


def pava(x: list[float], w: list[float]) -> list[float]:
    """R BOIN's ``pava``: pool the first violating pair of level sets until none is left."""
    x = list(x)
    level = list(range(len(x)))
    while True:
        viol = [i for i in range(len(x) - 1) if x[i + 1] - x[i] < 0]
        if not viol:
            return x
        i = viol[0]
        a, b = level[i], level[i + 1]
        members = [j for j in range(len(x)) if level[j] in (a, b)]
        pooled = sum(x[j] * w[j] for j in members) / sum(w[j] for j in members)
        for j in members:
            x[j] = pooled
            level[j] = a


def select_mtd(r: Rules, n: list[int], y: list[int]) -> int:
    """R's ``select.mtd``: the MTD's index, -1 for none."""
    k = len(n)
    cut = Fraction(r.cutoff)
    elim = [False] * k
    for i in range(k):
        if n[i] >= 3 and tail(r.target, n[i], y[i]) > cut:
            elim[i:] = [True] * (k - i)
            break
    if r.extrasafe and n[0] >= 3 and tail(r.target, n[0], y[0]) > cut - Fraction(r.offset):
        elim = [True] * k
    if elim[0] or sum(n[i] for i in range(k) if not elim[i]) == 0:
        return -1
    adm = [i for i in range(k) if n[i] > 0 and not elim[i]]
    phat = [(y[i] + 0.05) / (n[i] + 0.1) for i in adm]
    var = [(y[i] + 0.05) * (n[i] - y[i] + 0.05) / ((n[i] + 0.1) ** 2 * (n[i] + 0.1 + 1)) for i in adm]
    fit = pava(phat, [1 / v for v in var])
    fit = [f + (j + 1) * 1e-10 for j, f in enumerate(fit)]
    dist = [abs(f - r.target) for f in fit]
    return adm[dist.index(min(dist))]  # the first minimum, as R's stable sort


@dataclass
class Truth:
    select: list[Fraction]
    none: Fraction
    mean_n: list[Fraction]
    mean_y: list[Fraction]


def operating(r: Rules, p: list[float], start: int = 0) -> Truth:
    """Exact P(select), P(no MTD), E[n_j], E[y_j] by recursion over every cohort outcome."""
    k = len(p)
    probs = [Fraction(q) for q in p]
    out = Truth([Fraction(0)] * k, Fraction(0), [Fraction(0)] * k, [Fraction(0)] * k)

    def finish(prob: Fraction, n: list[int], y: list[int], chosen: int) -> None:
        if chosen < 0:
            out.none += prob
        else:
            out.select[chosen] += prob
        for j in range(k):
            out.mean_n[j] += prob * n[j]
            out.mean_y[j] += prob * y[j]

    def cohort(prob: Fraction, n: list[int], y: list[int], elim: list[bool], d: int) -> None:
        c = r.cohort
        for dlt in range(c + 1):
            q = prob * math.comb(c, dlt) * probs[d] ** dlt * (1 - probs[d]) ** (c - dlt)
            if q:
                after(q, n, y, elim, d, dlt)

    def after(prob: Fraction, n0: list[int], y0: list[int], elim0: list[bool], d: int, dlt: int) -> None:
        n, y, elim = list(n0), list(y0), list(elim0)
        n[d] += r.cohort
        y[d] += dlt
        if sum(n) >= r.total:  # the last cohort: no check, the final selection
            finish(prob, n, y, select_mtd(r, n, y))
            return
        e, de, el = boundaries(r, n[d])
        if el is not None:
            if y[d] >= el:
                elim[d:] = [True] * (k - d)
                if d == 0:
                    finish(prob, n, y, -1)
                    return
            if r.extrasafe and d == 0 and n[0] >= 3:
                if tail(r.target, n[0], y[0]) > Fraction(r.cutoff) - Fraction(r.offset):
                    finish(prob, n, y, -1)
                    return
        top = d == k - 1
        if n[d] >= r.earlystop and (
            (e < y[d] < de) or (d == 0 and y[d] >= de) or ((top or elim[d + 1]) and y[d] <= e)
        ):
            finish(prob, n, y, select_mtd(r, n, y))
            return
        if y[d] <= e and not top:
            if not elim[d + 1]:
                d += 1
        elif y[d] >= de and d > 0:
            d -= 1
        cohort(prob, n, y, elim, d)

    cohort(Fraction(1), [0] * k, [0] * k, [False] * k, start)
    return out
