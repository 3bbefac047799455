"""An independent scalar CRM, written from the R package dfcrm's ``crm`` and ``crmsim`` rules
(Cheung, *Dose Finding by the Continual Reassessment Method*, 2011), for the tests.

Nothing here comes from :mod:`doseesc`: the posterior mean of ``beta`` is computed by adaptive
quadrature (``scipy.integrate.quad``) on plain Python lists of patients, the recommended dose by
dfcrm's three-way rule, and :func:`operating` walks every sequence of cohort outcomes by plain
recursion (memoised on the per-dose counts, the last dose and the last cohort's DLTs), with binomial
probabilities.  Doses are 0-based.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from scipy.integrate import quad


@dataclass(frozen=True)
class Crm:
    skeleton: tuple[float, ...]
    target: float
    cohort: int
    total: int
    model: str = "empiric"
    intercept: float = 3.0
    prior_var: float = 1.34
    restrict: bool = True
    estimate: str = "plugin"
    safety: float | None = None
    untried: bool = True


def psi(c: Crm, dose: int, b: float) -> float:
    s = c.skeleton[dose]
    if c.model == "empiric":
        return s ** math.exp(b)
    x = math.log(s / (1 - s)) - c.intercept
    z = c.intercept + math.exp(b) * x
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def _integrand(c: Crm, counts: tuple[tuple[int, int], ...], f) -> float:
    def h(b: float) -> float:
        if abs(b) > 60:  # the prior density is below 1e-600 there
            return 0.0
        like = 1.0
        for dose, (n, y) in enumerate(counts):
            if n:
                p = psi(c, dose, b)
                like *= p**y * (1 - p) ** (n - y)
        prior = math.exp(-b * b / (2 * c.prior_var)) / math.sqrt(2 * math.pi * c.prior_var)
        return f(b) * like * prior

    return h


def _integral(c: Crm, counts, f, lo=-math.inf, hi=math.inf) -> float:
    return quad(_integrand(c, counts, f), lo, hi, epsabs=0, epsrel=1e-12, limit=200)[0]


@cache
def estimates(c: Crm, counts: tuple[tuple[int, int], ...]) -> tuple[float, ...]:
    den = _integral(c, counts, lambda b: 1.0)
    k = len(c.skeleton)
    if c.estimate == "posterior":
        return tuple(_integral(c, counts, lambda b, d=d: psi(c, d, b)) / den for d in range(k))
    beta = _integral(c, counts, lambda b: b) / den
    return tuple(psi(c, d, beta) for d in range(k))


def recommend(c: Crm, p: tuple[float, ...], allowed: list[int] | None = None) -> int:
    allowed = list(range(len(p))) if allowed is None else allowed
    if not allowed:
        return -1
    if all(p[d] <= c.target for d in allowed):
        return allowed[-1]
    if all(p[d] >= c.target for d in allowed):
        return allowed[0]
    return min(allowed, key=lambda d: (abs(p[d] - c.target), d))


def unsafe(c: Crm, counts) -> bool:
    """P(psi(lowest dose) > target | data) > safety, by quadrature over the beta set where it holds."""
    if c.safety is None:
        return False
    den = _integral(c, counts, lambda b: 1.0)
    # psi decreases in beta; find where psi(0, b) = target by bisection.
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if psi(c, 0, mid) > c.target else (lo, mid)
    return _integral(c, counts, lambda b: 1.0, -math.inf, lo) / den > c.safety


def operating(c: Crm, p_true: tuple[float, ...], start: int = 0) -> dict[str, list[float] | float]:
    """Selection probabilities (index 0: no MTD, then per dose) and expected patients and DLTs per dose."""
    k = len(c.skeleton)

    @cache
    def walk(counts, dose: int, used: int):
        sel = [0.0] * (k + 1)
        npat, ndlt = [0.0] * k, [0.0] * k
        p = p_true[dose]
        for y in range(c.cohort + 1):
            prob = math.comb(c.cohort, y) * p**y * (1 - p) ** (c.cohort - y)
            if prob == 0:
                continue
            new = list(counts)
            new[dose] = (new[dose][0] + c.cohort, new[dose][1] + y)
            new = tuple(new)
            npat[dose] += prob * c.cohort
            ndlt[dose] += prob * y
            est = estimates(c, new)
            if unsafe(c, new):
                sel[0] += prob
                continue
            if used + c.cohort >= c.total:
                given = [d for d in range(k) if new[d][0]]
                final = recommend(c, est) if c.untried else recommend(c, est, given)
                sel[final + 1] += prob
                continue
            nxt = recommend(c, est)
            if c.restrict:
                nxt = min(nxt, dose if y / c.cohort >= c.target else dose + 1)
            s2, n2, d2 = walk(new, nxt, used + c.cohort)
            for i in range(k + 1):
                sel[i] += prob * s2[i]
            for i in range(k):
                npat[i] += prob * n2[i]
                ndlt[i] += prob * d2[i]
        return sel, npat, ndlt

    sel, npat, ndlt = walk(tuple((0, 0) for _ in range(k)), start, 0)
    return {"selected": sel, "patients": npat, "dlts": ndlt}
