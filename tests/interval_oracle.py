"""An independent, scalar reference for the interval designs Keyboard, mTPI-2 and i3+3, written from
the papers' definitions (it does not import doseesc).

Decision at a dose with ``y`` DLTs in ``n`` patients, equivalence interval ``[lo, hi] = [target -
eps1, target + eps2]``, posterior ``Beta(1 + y, 1 + n - y)`` (scipy.stats.beta):

* Keyboard (Yan, Mandrekar & Yuan 2017): keys of width ``hi - lo`` stepped out from ``[lo, hi]``
  while they fit inside [0, 1] (leftover pieces are not keys); the key of largest posterior
  probability, compared with ``[lo, hi]``, gives E / S / D;
* mTPI-2 (Guo et al. 2017): the same stepping, leftover pieces kept as intervals; largest
  probability / length;
* i3+3 (Liu, Wang & Ji 2020): ``y/n < lo`` E; ``lo <= y/n <= hi`` S; ``y/n > hi``: S if
  ``(y - 1)/n < lo``, else D.

Scores equal to within a relative 1e-9 go to the higher interval; bounds are compared with 1e-9
slack (rounded decimals such as 0.3 - 0.05).  A dose with ``n >= 3`` and ``P(p > target) >
cutoff`` is eliminated with all doses above it (the next cohort goes one dose lower; no MTD if it
is the lowest).  E is "stay" at the top dose or below an eliminated one; D is "stay" at the lowest.

A trial treats cohorts of ``c`` at ``start_dose`` and stops before a cohort that would take it past
``max_n`` patients; then the MTD is chosen from the treated, non-eliminated doses by isotonic
regression (pool adjacent violators, R's level-set form) of ``(y + 0.05)/(n + 0.1)`` weighted by
``1 / var``, ``var = (y + 0.05)(n - y + 0.05) / ((n + 0.1)^2 (n + 1.1))``, adding ``1e-10 * k`` to the
``k``-th candidate and taking the first closest to ``target`` (the BOIN package's ``select.mtd``).

:func:`exact_oracle` walks every cohort outcome with exact path probabilities (Fractions).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from math import comb

from scipy.stats import beta

TOL = 1e-9
NONE = -1
E, S, D = "E", "S", "D"


@dataclass(frozen=True)
class Rule:
    method: str  # "keyboard", "mtpi2" or "i3+3"
    target: float = 0.3
    eps1: float = 0.05
    eps2: float = 0.05
    cutoff: float = 0.95


def intervals(lo: float, hi: float, keep_pieces: bool) -> tuple[list[tuple[float, float]], int]:
    """The intervals stepped out from ``[lo, hi]``, lowest first, and the position of ``[lo, hi]``."""
    width = hi - lo
    below, edge = [], lo
    while edge > TOL:
        if edge - width >= -TOL:
            below.insert(0, (max(edge - width, 0.0), edge))
        elif keep_pieces:
            below.insert(0, (0.0, edge))
        edge -= width
    above, edge = [], hi
    while edge < 1 - TOL:
        if edge + width <= 1 + TOL:
            above.append((edge, min(edge + width, 1.0)))
        elif keep_pieces:
            above.append((edge, 1.0))
        edge += width
    return [*below, (lo, hi), *above], len(below)


@cache
def decision(rule: Rule, n: int, y: int) -> str:
    """E, S or D for ``y`` DLTs in ``n >= 1`` patients (elimination aside)."""
    lo, hi = rule.target - rule.eps1, rule.target + rule.eps2
    if rule.method == "i3+3":
        if y < lo * n - TOL:
            return E
        if y <= hi * n + TOL:
            return S
        return S if y - 1 < lo * n - TOL else D
    pieces, ei = intervals(lo, hi, keep_pieces=rule.method == "mtpi2")
    cdf = beta.cdf([edge for piece in pieces for edge in piece], 1 + y, 1 + n - y)
    scores = [b - a for a, b in zip(cdf[::2], cdf[1::2], strict=True)]
    if rule.method == "mtpi2":
        scores = [s / (b - a) for s, (a, b) in zip(scores, pieces, strict=True)]
    best = max(i for i, s in enumerate(scores) if s >= max(scores) * (1 - TOL))
    return E if best < ei else S if best == ei else D


@cache
def eliminated(rule: Rule, n: int, y: int) -> bool:
    return n >= 3 and beta.sf(rule.target, 1 + y, 1 + n - y) > rule.cutoff


def pava(values: list[float], weights: list[float]) -> list[float]:
    """Weighted isotonic regression: pool the first adjacent violators until there are none."""
    x, level = list(values), list(range(len(values)))
    while True:
        viol = [i for i in range(len(x) - 1) if x[i + 1] < x[i]]
        if not viol:
            return x
        a, b = level[viol[0]], level[viol[0] + 1]
        members = [j for j in range(len(x)) if level[j] in (a, b)]
        pooled = sum(x[j] * weights[j] for j in members) / sum(weights[j] for j in members)
        for j in members:
            x[j], level[j] = pooled, a


def select_mtd(rule: Rule, ns: tuple[int, ...], ys: tuple[int, ...]) -> int:
    first_bad = next((k for k in range(len(ns)) if eliminated(rule, ns[k], ys[k])), len(ns))
    doses = [k for k in range(first_bad) if ns[k] > 0]
    if not doses:
        return NONE
    est = [(ys[k] + 0.05) / (ns[k] + 0.1) for k in doses]
    var = [(ys[k] + 0.05) * (ns[k] - ys[k] + 0.05) / ((ns[k] + 0.1) ** 2 * (ns[k] + 1.1)) for k in doses]
    fitted = [f + (i + 1) * 1e-10 for i, f in enumerate(pava(est, [1 / v for v in var]))]
    distance = [abs(f - rule.target) for f in fitted]
    return doses[distance.index(min(distance))]


@dataclass
class Truth:
    p_select: list[Fraction]
    p_none: Fraction
    mean_n: list[Fraction]
    mean_dlt: list[Fraction]


def exact_oracle(rule: Rule, p: list[Fraction], cohort: int, max_n: int, start_dose: int = 0) -> Truth:
    """Selection probabilities and expected patients / DLTs per dose, exactly."""
    k_doses = len(p)

    @cache
    def walk(d: int, ns: tuple[int, ...], ys: tuple[int, ...]) -> tuple:
        """(P(select k) for k = -1 .. K-1, E[n_k], E[y_k]) from here on."""
        if sum(ns) + cohort > max_n:
            chosen = select_mtd(rule, ns, ys)
            return (
                tuple(Fraction(int(k == chosen)) for k in range(-1, k_doses)),
                (0,) * k_doses,
                (0,) * k_doses,
            )
        sel = [Fraction(0)] * (k_doses + 1)
        mean_n = [Fraction(0)] * k_doses
        mean_y = [Fraction(0)] * k_doses
        for dlt in range(cohort + 1):
            w = comb(cohort, dlt) * p[d] ** dlt * (1 - p[d]) ** (cohort - dlt)
            if w == 0:
                continue
            n2 = (*ns[:d], ns[d] + cohort, *ns[d + 1 :])
            y2 = (*ys[:d], ys[d] + dlt, *ys[d + 1 :])
            mean_n[d] += w * cohort
            mean_y[d] += w * dlt
            if eliminated(rule, n2[d], y2[d]) and d == 0:
                sel[0] += w
                continue
            if eliminated(rule, n2[d], y2[d]):
                nxt = d - 1
            else:
                step = decision(rule, n2[d], y2[d])
                if step == E:
                    blocked = d == k_doses - 1 or eliminated(rule, n2[d + 1], y2[d + 1])
                    nxt = d if blocked else d + 1
                else:
                    nxt = d if step == S else max(d - 1, 0)
            s, m, t = walk(nxt, n2, y2)
            sel = [a + w * b for a, b in zip(sel, s, strict=True)]
            mean_n = [a + w * b for a, b in zip(mean_n, m, strict=True)]
            mean_y = [a + w * b for a, b in zip(mean_y, t, strict=True)]
        return tuple(sel), tuple(mean_n), tuple(mean_y)

    sel, mean_n, mean_y = walk(start_dose, (0,) * k_doses, (0,) * k_doses)
    return Truth(list(sel[1:]), sel[0], list(mean_n), list(mean_y))
