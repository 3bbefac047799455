"""Logistic dose-risk in log dose, with optional covariate terms, and its Bayesian fit.

One mechanism of toxicity (:class:`LogisticRisk`) gives the probability per administration

    logit p = intercept + slope * ln(dose / reference_dose) + sum_k coefficient_k * (f(x_k) - centre_k)

where ``x_k`` is a patient covariate from :mod:`doseesc.population` and ``f`` the identity or the
natural log.  ``intercept`` is the log-odds at the reference dose for a patient at every centre;
``slope`` the log-odds per unit of log dose (an e-fold dose increase).  Put it in a
:class:`~doseesc.models.mechanisms.MechanismModel` to get a toxicity model for the engines.

Its parameters may carry a :class:`Posterior`: weighted draws from :func:`fit_posterior`
(importance sampling around the posterior mode, deterministic for a fixed seed).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from doseesc.models.units import Dose


@dataclass(frozen=True)
class CovariateTerm:
    """``coefficient * (f(x) - centre)`` on the log-odds scale, ``f = ln`` when ``log`` is set.

    ``covariate`` names a population covariate (see :data:`doseesc.population.VARIABLES`); the
    coefficient is per unit of ``f(x)``.  A zero coefficient makes the term (and the covariate's
    draw) vanish.
    """

    covariate: str
    coefficient: float
    centre: float = 0.0
    log: bool = False

    def value(self, x: np.ndarray) -> np.ndarray:
        return (np.log(x) if self.log else x) - self.centre


@dataclass(frozen=True, eq=False)
class Posterior:
    """Weighted draws of a parameter vector.

    ``draws[i, j]`` is parameter ``names[i]`` in draw ``j`` (natural scale), with normalised
    importance weight ``weights[j]``; ``log_likelihood[j]`` is the log-likelihood of the data the
    posterior was fitted to, and ``log_evidence`` the log prior predictive probability of those data.
    """

    names: tuple[str, ...]
    draws: np.ndarray
    weights: np.ndarray
    log_likelihood: np.ndarray
    log_evidence: float

    def __post_init__(self) -> None:
        w = np.asarray(self.weights, dtype=float)
        if self.draws.shape != (len(self.names), w.shape[0]) or np.any(w < 0) or not w.sum() > 0:
            raise ValueError("posterior: draws must be (n_params, n_draws) with non-negative weights")
        w = w / w.sum()
        cumulative = np.cumsum(w)
        cumulative[-1] = 1.0
        for a in (w, cumulative, self.draws, self.log_likelihood):
            a.setflags(write=False)
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "_cumulative", cumulative)

    @property
    def ess(self) -> float:
        """Kish effective sample size of the weights."""
        return float(1.0 / np.sum(self.weights**2))

    def pick_index(self, u: np.ndarray) -> np.ndarray:
        """Indices of draws chosen with probability equal to their weights by uniforms ``u``: the
        first draw whose cumulative weight exceeds ``u``.  A guide table gives it for the uniforms
        whose bin of [0, 1) holds no cumulative weight (most of them); the others are searched."""
        guide = self._guide
        bins = guide.shape[0] - 1
        b = np.minimum((u * bins).astype(np.intp), bins - 1)
        idx = np.take(guide, b)
        unsure = np.flatnonzero(idx != np.take(guide, b + 1))
        idx[unsure] = np.searchsorted(self._cumulative, np.take(u, unsure), side="right")
        return np.minimum(idx, self.weights.shape[0] - 1)

    @cached_property
    def _guide(self) -> np.ndarray:
        """The pick of each bin edge of [0, 1) in 8 bins per draw: a bin whose two edges pick the
        same draw has no cumulative weight inside, so every uniform in it picks that draw."""
        bins = 8 * self.weights.shape[0]
        return np.searchsorted(self._cumulative, np.arange(bins + 1) / bins, side="right")

    def mean(self, values: np.ndarray) -> np.ndarray:
        """Posterior mean of quantities ``values`` (last axis over draws)."""
        return values @ self.weights

    def quantiles(self, values: np.ndarray, probs: Sequence[float]) -> np.ndarray:
        """Weighted quantiles of ``values`` (last axis over draws), one row per entry of ``probs``.

        The weighted empirical CDF is interpolated between the mid-points of each draw's weight.
        """
        v = np.asarray(values, dtype=float)
        flat = v.reshape(-1, v.shape[-1])
        out = np.empty((len(probs), flat.shape[0]))
        for r, row in enumerate(flat):
            order = np.argsort(row)
            w = self.weights[order]
            cdf = np.cumsum(w) - w / 2
            out[:, r] = np.interp(probs, cdf, row[order])
        return out.reshape((len(probs), *v.shape[:-1]))

    def predictive(self) -> float:
        """Posterior predictive probability of the data the posterior was fitted to."""
        return float(self.weights @ np.exp(self.log_likelihood))

    def summary(self, level: float = 0.9) -> dict[str, dict[str, float]]:
        """Posterior median and central credible interval of each parameter."""
        tail = (1 - level) / 2
        q = self.quantiles(self.draws, [0.5, tail, 1 - tail])
        return {n: {"median": q[0, i], "lower": q[1, i], "upper": q[2, i]} for i, n in enumerate(self.names)}


@dataclass(frozen=True)
class NormalPrior:
    """Independent normal priors on each parameter's working scale: the parameter itself, or its
    natural log where ``positive`` (a log-normal prior on a parameter that must be positive)."""

    name: str
    names: tuple[str, ...]
    mean: tuple[float, ...]
    sd: tuple[float, ...]
    positive: tuple[bool, ...]
    description: str = ""

    def __post_init__(self) -> None:
        k = len(self.names)
        if not (len(self.mean) == len(self.sd) == len(self.positive) == k) or min(self.sd) <= 0:
            raise ValueError(f"prior {self.name!r}: one mean, positive SD and flag per parameter")

    def to_natural(self, working: np.ndarray) -> np.ndarray:
        """``(k, ...)`` working-scale values to the natural scale."""
        pos = np.array(self.positive).reshape((-1,) + (1,) * (working.ndim - 1))
        return np.where(pos, np.exp(working), working)

    def to_working(self, natural: np.ndarray) -> np.ndarray:
        pos = np.array(self.positive).reshape((-1,) + (1,) * (natural.ndim - 1))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(pos, np.log(natural), natural)

    def logpdf(self, working: np.ndarray) -> np.ndarray:
        """Log density of ``(k, n)`` working-scale values: ``(n,)``."""
        m = np.array(self.mean)[:, None]
        s = np.array(self.sd)[:, None]
        z = (working - m) / s
        return (-0.5 * z * z - np.log(s) - 0.5 * math.log(2 * math.pi)).sum(axis=0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "parameters": {
                n: {"scale": "log" if p else "natural", "mean": m, "sd": s}
                for n, m, s, p in zip(self.names, self.mean, self.sd, self.positive, strict=True)
            },
        }


def _hessian(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-3) -> np.ndarray:
    """Central finite-difference Hessian of ``f`` at ``x``."""
    k = x.shape[0]
    e = np.eye(k) * h
    out = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            out[i, j] = out[j, i] = (
                f(x + e[i] + e[j]) - f(x + e[i] - e[j]) - f(x - e[i] + e[j]) + f(x - e[i] - e[j])
            ) / (4 * h * h)
    return out


def fit_posterior(
    log_likelihood: Callable[[np.ndarray], np.ndarray],
    prior: NormalPrior,
    *,
    log2_draws: int = 12,
    seed: int = 0,
) -> Posterior:
    """Posterior of the parameters given data, by importance sampling (deterministic for a ``seed``).

    ``log_likelihood`` maps ``(k, n)`` natural-scale parameter vectors to ``(n,)`` log-likelihoods.

    1. The posterior mode on the working scale (BFGS) and the Laplace covariance (inverse of a
       finite-difference Hessian; the prior covariance if that is not positive definite).
    2. Proposal: a defensive mixture (Hesterberg, Technometrics 1995) of a multivariate t with 4
       degrees of freedom at the mode (scale 1.5 x Laplace) and, with weight 1/5, the prior itself,
       so that every weight is bounded by 5 x the likelihood.  Draws come from scrambled Sobol
       points (``2**log2_draws`` for the t, a quarter as many for the prior); weights use the
       mixture density.
    3. Once: the t is moved to the weighted mean and covariance of the draws (scale 1.2) and the
       draws and weights are made afresh.
    """
    # Imported here: a run that reads its posterior from the cache never needs them.
    from scipy import optimize, special, stats
    from scipy.stats import qmc

    k = len(prior.names)
    mean0, sd0 = np.array(prior.mean), np.array(prior.sd)

    def neg_log_post(w: np.ndarray) -> float:
        col = w[:, None]
        return -float(log_likelihood(prior.to_natural(col))[0] + prior.logpdf(col)[0])

    mode = optimize.minimize(neg_log_post, mean0, method="BFGS").x
    cov = np.diag(sd0**2)
    hess = _hessian(neg_log_post, mode)
    if np.all(np.isfinite(hess)) and np.linalg.eigvalsh(hess)[0] > 0:
        cov = np.linalg.inv(hess)

    u_t = qmc.Sobol(k + 1, scramble=True, rng=seed).random_base2(log2_draws)
    u_p = qmc.Sobol(k, scramble=True, rng=seed + 1).random_base2(log2_draws - 2)
    z_t = special.ndtri(np.clip(u_t[:, :k], 1e-15, 1 - 1e-15)).T
    chi = np.sqrt(stats.chi2.ppf(np.clip(u_t[:, k], 1e-15, 1 - 1e-15), 4.0) / 4.0)
    prior_draws = mean0[:, None] + sd0[:, None] * special.ndtri(np.clip(u_p, 1e-15, 1 - 1e-15)).T
    n_t, n_p = z_t.shape[1], prior_draws.shape[1]
    share_t = n_t / (n_t + n_p)

    centre, shape = mode, cov * 1.5**2
    for step in range(2):
        chol = np.linalg.cholesky(shape)
        draws = np.concatenate([centre[:, None] + (chol @ z_t) / chi, prior_draws], axis=1)
        log_prior = prior.logpdf(draws)
        log_t = stats.multivariate_t(loc=centre, shape=shape, df=4.0).logpdf(draws.T)
        log_q = np.logaddexp(np.log(share_t) + log_t, np.log1p(-share_t) + log_prior)
        natural = prior.to_natural(draws)
        loglik = np.asarray(log_likelihood(natural), dtype=float)
        log_w = np.where(np.isfinite(loglik), loglik + log_prior - log_q, -np.inf)
        weights = np.exp(log_w - log_w.max())
        if step == 0:
            w = weights / weights.sum()
            if 1 / np.sum(w**2) < 50 * k:
                continue  # too few effective draws to trust their moments: keep the Laplace proposal
            centre = draws @ w
            dev = draws - centre[:, None]
            shape = (dev * w) @ dev.T * 1.2**2
    log_evidence = float(special.logsumexp(log_w) - math.log(draws.shape[1]))
    return Posterior(prior.names, natural, weights, loglik, log_evidence)


@dataclass(frozen=True, eq=False)
class LogisticRisk:
    """Probability of one kind of DLT per administration, logistic in log dose (see the module).

    ``reference_dose`` fixes the unit the mechanism reads (cells/kg, cells or mg/m^2).
    ``carryover_half_life_days``: in a regimen, the load of an earlier administration decays with
    this half-life (days) and adds to later ones (see
    :class:`~doseesc.models.mechanisms.Regimen`); None means administrations do not interact.
    With a ``posterior`` (rows ``intercept``, ``slope``, then each term's covariate), a model can
    draw the parameters per simulated trial; the fixed values are then the default point.
    """

    name: str
    intercept: float
    slope: float
    reference_dose: Dose
    terms: tuple[CovariateTerm, ...] = ()
    carryover_half_life_days: float | None = None
    posterior: Posterior | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.slope) and self.slope >= 0):
            raise ValueError(
                f"{self.name}: slope must be >= 0 (risk does not fall with dose), got {self.slope}"
            )
        if self.carryover_half_life_days is not None and not self.carryover_half_life_days > 0:
            raise ValueError(f"{self.name}: carryover_half_life_days must be positive (days) or None")
        if self.posterior is not None and self.posterior.names != self.parameter_names:
            raise ValueError(
                f"{self.name}: posterior parameters {self.posterior.names} != {self.parameter_names}"
            )

    @property
    def unit(self) -> str:
        return self.reference_dose.unit

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return ("intercept", "slope", *(t.covariate for t in self.terms))

    def parameters(self) -> np.ndarray:
        """The fixed parameter vector (natural scale, in :attr:`parameter_names` order)."""
        return np.array([self.intercept, self.slope, *(t.coefficient for t in self.terms)])

    @cached_property
    def covariates(self) -> tuple[str, ...]:
        """Covariates with a non-zero effect (in any posterior draw, when there is a posterior)."""
        coef = self.parameters()[2:] if self.posterior is None else self.posterior.draws[2:]
        return tuple(t.covariate for i, t in enumerate(self.terms) if np.any(coef[i] != 0))

    def risk(self, dose: np.ndarray, covariates: Mapping[str, np.ndarray], params: np.ndarray) -> np.ndarray:
        """Probability per administration of ``dose`` (in :attr:`unit`); ``params`` rows in
        :attr:`parameter_names` order, broadcast against ``dose`` and the covariates.  A term whose
        covariate is absent from ``covariates`` is left out (models draw only the covariates in
        :attr:`covariates`, those with an effect)."""
        eta = params[0] + params[1] * np.log(dose / self.reference_dose.value)
        for i, t in enumerate(self.terms):
            if t.covariate in covariates:
                eta = eta + params[2 + i] * t.value(covariates[t.covariate])
        from scipy import special  # here: importing scipy.special adds ~0.3 s to every start-up

        return special.expit(eta)
