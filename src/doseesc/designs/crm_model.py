"""The CRM's one-parameter working models, their skeletons, and the posterior of their parameter.

Working models (O'Quigley, Pepe & Fisher, Biometrics 1990;46:33-48; Cheung, *Dose Finding by the
Continual Reassessment Method*, 2011, chapter 4), for dose level ``d`` with skeleton value ``s_d``:

``empiric`` (power)
    ``psi(d, beta) = s_d ** exp(beta)``.
``logistic`` (one parameter, fixed intercept ``a``, default 3)
    ``psi(d, beta) = 1 / (1 + exp(-a - exp(beta) * x_d))`` with ``x_d = logit(s_d) - a``, so that
    ``psi(d, 0) = s_d``; every ``x_d`` must be negative (``s_d < 1 / (1 + exp(-a))``).

Prior ``beta ~ N(0, prior_var)`` (default variance 1.34, the R package dfcrm's). The posterior given
``n_d`` patients and ``y_d`` DLTs per dose is computed by deterministic quadrature, so the same data
always give the same numbers: the trapezoidal rule on a fixed grid of ``beta`` over ``+-8`` prior
standard deviations (the prior mass beyond is about 1e-15). The integrands are smooth and decay like
the prior at both ends, where the trapezoidal rule converges geometrically; with the grid step at
most 0.08 and a posterior standard deviation of ``beta`` above 0.1 (it is about 0.2 after 30
patients at one dose) the relative quadrature error is below ``exp(-2 pi^2 (0.1/0.08)^2) ~ 4e-14``.
Tail probabilities such as ``P(psi(1, beta) > target)`` are integrals over a half-line whose end is
a kink of the integrand, so they use Gauss-Legendre rules on each side of that point instead.

TITE weights (Cheung & Chappell, Biometrics 2000;56:1177-82): a patient without a DLT followed for
a fraction ``w`` of the DLT window contributes ``1 - w psi`` instead of ``1 - psi``, which per-dose
sums cannot carry; :class:`doseesc.designs.tite.TITECRM` adds those terms patient by patient on the
same grid.

Skeleton by the indifference-interval method (Lee & Cheung, Clin Trials 2009;6:227-38): level ``nu``
(the prior guess of the MTD) gets ``s_nu = target``; each neighbour is placed so that, as ``beta``
moves, the model's estimate at the recommended level stays within ``target +- halfwidth``, i.e. at
the value of ``beta`` where level ``k`` reaches ``target + halfwidth`` (going down) or ``target -
halfwidth`` (going up) its neighbour is at the other end of the interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.special import expit, logit

GRID_SDS = 8.0
"""The ``beta`` grid spans this many prior standard deviations either side of 0."""
GRID_STEP = 0.08
"""Largest step of the ``beta`` grid (see the module docstring for the error this allows)."""
TAIL_NODES = 160
"""Gauss-Legendre nodes on each side of a tail probability's end point."""


def empiric_skeleton(halfwidth: float, target: float, prior_mtd: int, n_doses: int) -> np.ndarray:
    """The empiric model's skeleton by Lee & Cheung's (2009) indifference intervals; ``prior_mtd`` is
    a dose index (0 = lowest) and ``target +- halfwidth`` must lie inside (0, 1)."""
    return _skeleton(halfwidth, target, prior_mtd, n_doses, "empiric", 0.0)


def logistic_skeleton(
    halfwidth: float, target: float, prior_mtd: int, n_doses: int, intercept: float = 3.0
) -> np.ndarray:
    """The one-parameter logistic model's skeleton by Lee & Cheung's (2009) indifference intervals."""
    return _skeleton(halfwidth, target, prior_mtd, n_doses, "logistic", intercept)


def _skeleton(halfwidth: float, target: float, nu: int, k: int, model: str, a: float) -> np.ndarray:
    # Both models are psi = h(exp(beta) * x) with h increasing, so level x sits at p when
    # exp(beta) = g(p) / x, where g = log (empiric) or logit - a (logistic).
    g = {
        p: math.log(p) if model == "empiric" else float(logit(p)) - a
        for p in (target - halfwidth, target, target + halfwidth)
    }
    lo, hi = target - halfwidth, target + halfwidth
    x = np.empty(k)
    x[nu] = g[target]
    for d in range(nu, 0, -1):
        x[d - 1] = g[lo] / (g[hi] / x[d])
    for d in range(nu, k - 1):
        x[d + 1] = g[hi] / (g[lo] / x[d])
    return np.exp(x) if model == "empiric" else expit(a + x)


@dataclass(frozen=True)
class WorkingModel:
    """A CRM working model over a skeleton with a normal prior on ``beta`` (module docstring)."""

    skeleton: tuple[float, ...]
    model: str = "empiric"
    intercept: float = 3.0
    prior_var: float = 1.34

    @cached_property
    def x(self) -> np.ndarray:
        """The model's dose values: ``log s_d`` (empiric) or ``logit(s_d) - a`` (logistic)."""
        s = np.asarray(self.skeleton, dtype=float)
        return np.log(s) if self.model == "empiric" else logit(s) - self.intercept

    def psi(self, beta: np.ndarray) -> np.ndarray:
        """``(..., K)`` P(DLT) at every dose for each ``beta``."""
        e = np.exp(np.asarray(beta, dtype=float))[..., None] * self.x
        return np.exp(e) if self.model == "empiric" else expit(self.intercept + e)

    def _logs(self, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``log psi`` and ``log(1 - psi)``, ``(len(beta), K)``, accurate where ``psi`` is near 0 or 1."""
        e = np.exp(beta)[:, None] * self.x
        if self.model == "empiric":
            return e, np.log(-np.expm1(e))
        eta = self.intercept + e
        return -np.logaddexp(0.0, -eta), -np.logaddexp(0.0, eta)

    @cached_property
    def grid(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``beta`` nodes, log of (trapezoid weight x prior density), and ``log psi``, ``log(1-psi)``
        at the nodes."""
        sd = math.sqrt(self.prior_var)
        m = math.ceil(2 * GRID_SDS * sd / GRID_STEP) + 1
        beta = np.linspace(-GRID_SDS * sd, GRID_SDS * sd, m)
        return (beta, self._log_prior(beta) + math.log(beta[1] - beta[0]), *self._logs(beta))

    def _log_prior(self, beta: np.ndarray) -> np.ndarray:
        return -0.5 * beta**2 / self.prior_var - 0.5 * math.log(2 * math.pi * self.prior_var)

    def posterior_weights(self, n: np.ndarray, y: np.ndarray, nodes: tuple | None = None) -> np.ndarray:
        """``(trials, nodes)`` normalised posterior weights of the grid nodes (or of ``nodes``, a tuple
        like :attr:`grid`) for per-dose counts ``n``, ``y`` (``(trials, K)``)."""
        _, log_w, log_p, log_q = self.grid if nodes is None else nodes
        y = np.asarray(y, dtype=float)
        rows = np.column_stack([y, np.asarray(n, dtype=float) - y, np.ones(y.shape[0])])
        w = rows @ np.vstack([log_p.T, log_q.T, log_w])
        w -= w.max(axis=1, keepdims=True)  # the largest weight becomes 1: no overflow, no underflow of all
        np.exp(w, out=w)
        w /= w.sum(axis=1, keepdims=True)
        return w

    def posterior_mean(self, n: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``(trials,)`` posterior mean of ``beta``."""
        return self.posterior_weights(n, y) @ self.grid[0]

    def posterior_toxicity(self, n: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``(trials, K)`` posterior mean of P(DLT) at every dose."""
        return self.posterior_weights(n, y) @ self.psi(self.grid[0])

    def crossing(self, dose: int, p: float) -> float:
        """The ``beta`` at which ``psi(dose, beta) = p``; below it ``psi`` is larger (``psi``
        decreases in ``beta`` since every ``x_d < 0``)."""
        x = self.x[dose]
        target = math.log(p) if self.model == "empiric" else logit(p) - self.intercept
        return math.log(target / x)

    @cached_property
    def _tail_rule(self) -> tuple[np.ndarray, np.ndarray]:
        nodes, weights = np.polynomial.legendre.leggauss(TAIL_NODES)
        return nodes, weights

    def prob_above(self, n: np.ndarray, y: np.ndarray, dose: int, p: float) -> np.ndarray:
        """``(trials,)`` posterior probability that P(DLT) at ``dose`` exceeds ``p``."""
        cut = self.crossing(dose, p)
        sd = math.sqrt(self.prior_var)
        lo, hi = -GRID_SDS * sd, GRID_SDS * sd
        if cut <= lo:
            return np.zeros(np.shape(n)[0])
        if cut >= hi:
            return np.ones(np.shape(n)[0])
        z, w = self._tail_rule
        parts = []
        for a, b in ((lo, cut), (cut, hi)):
            beta = 0.5 * (b - a) * z + 0.5 * (a + b)
            parts.append((beta, np.log(0.5 * (b - a) * w) + self._log_prior(beta), *self._logs(beta)))
        nodes = tuple(np.concatenate(column) for column in zip(*parts, strict=True))
        return self.posterior_weights(n, y, nodes)[:, :TAIL_NODES].sum(axis=1)
