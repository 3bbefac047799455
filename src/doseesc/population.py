"""Virtual patients: baseline covariates of the HALPC phase II population (paper Table 1).

Each covariate is a normal distribution on its own scale (natural or log), truncated to the
eligibility criteria; the covariates are tied together by a Gaussian copula (latent standard
normals with an assumed correlation matrix, :data:`LATENT_CORRELATIONS`).  Every number says where
it comes from: "Table 1" is Table 1 of the paper (Nevens et al., JHEP Reports 2021;3:100291; facts in
``docs/sources.md``); "assumption" is ours, since the paper does not publish it.

Calibration of the marginals.  The *parent* distributions (before screening) are fitted so that,
once truncated to the HALPC eligibility criteria (MELD-Na <= 35, adults), their mean and SD equal
Table 1; other criteria (e.g. :meth:`Eligibility.nct05727722`) truncate the same parents further.

=============  ======================  ================================================  =========
covariate      unit                    marginal                                          source
=============  ======================  ================================================  =========
age            years                   normal, mean 50.5, SD 9.2, >= 18                  Table 1
weight         kg                      log-normal, mean 75, SD 15                        assumption
inr            (ratio)                 log-normal, mean 2.0, SD 0.5                      Table 1
fibrinogen     g/L                     log-normal, mean 2.4, SD 1.1                      Table 1
platelets      10^9/L                  log-normal, mean 132, SD 82                       Table 1
meld_na        (score)                 normal, mean 27, SD 4.2, truncated to [6, 35]     Table 1
aclf_grade     0 = AD, 1, 2            P = 9/24, 10/24, 5/24 (Day 1)                     Table 1
=============  ======================  ================================================  =========

Log-normal marginals keep the laboratory values positive and right-skewed, as the ranges of Table 1
are (platelets 40-292 around a mean of 132).  A derived covariate, ``coagulation_score``, measures
a depleted coagulation reserve (high INR, low fibrinogen, low platelets); see
:func:`coagulation_score`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property

import numpy as np

from doseesc.streams import TrialStreams

VARIABLES = ("age", "weight", "inr", "fibrinogen", "platelets", "meld_na", "aclf_grade")
"""Covariates drawn from the copula, in drawing order."""

DERIVED = ("coagulation_score",)
"""Covariates computed from others."""

UNITS = {
    "age": "years",
    "weight": "kg",
    "inr": "ratio",
    "fibrinogen": "g/L",
    "platelets": "10^9/L",
    "meld_na": "score",
    "aclf_grade": "0 = AD, 1 = ACLF grade 1, 2 = ACLF grade 2",
    "coagulation_score": "population SD",
}

TABLE1 = {
    "age": (50.5, 9.2),
    "inr": (2.0, 0.5),
    "fibrinogen": (2.4, 1.1),
    "platelets": (132.0, 82.0),
    "meld_na": (27.0, 4.2),
}
"""Mean and SD at baseline (Table 1 of the paper; age at screening)."""

TABLE1_RANGES = {
    "inr": (1.2, 3.0),
    "fibrinogen": (0.88, 5.0),
    "platelets": (40.0, 292.0),
    "meld_na": (17.0, 37.0),
}
"""Minimum and maximum at baseline (Table 1); MELD-Na 37 is a Day-1 value: no patient had MELD-Na
above 35 at screening (Table 1, footnote)."""

TABLE1_N = {"age": 24, "inr": 23, "fibrinogen": 21, "platelets": 23, "meld_na": 24}
"""Patients behind each Table 1 summary."""

ACLF_COUNTS = (9, 10, 5)
"""AD / ACLF grade 1 / ACLF grade 2 at Day 1 (Table 1), N = 24."""

WEIGHT_MEAN_KG = 75.0
WEIGHT_SD_KG = 15.0
"""Body weight (kg): not published.  Assumption: typical adult European weights for a 17 M / 7 F
mix (Table 1); log-normal."""

MELD_NA_FLOOR = 6.0
"""Lowest possible MELD-Na score (the MELD formula's floor); irrelevant in practice at a mean of 27."""

LATENT_CORRELATIONS: dict[tuple[str, str], float] = {
    ("inr", "fibrinogen"): -0.3,
    ("inr", "platelets"): -0.2,
    ("fibrinogen", "platelets"): 0.3,
    ("inr", "meld_na"): 0.5,
    ("fibrinogen", "meld_na"): -0.2,
    ("platelets", "meld_na"): -0.1,
    ("meld_na", "aclf_grade"): 0.5,
    ("inr", "aclf_grade"): 0.3,
    ("fibrinogen", "aclf_grade"): -0.1,
    ("platelets", "aclf_grade"): -0.1,
}
"""Correlations of the latent normals (Gaussian copula).  None is published: all are assumptions,
chosen for direction and rough size.  INR enters the MELD-Na score and defines coagulation failure
in the CLIF organ-failure score behind the ACLF grade; fibrinogen and platelets fall with worse
liver synthetic function and hypersplenism.  Age and body weight are independent of the rest
(assumption); pairs not listed are 0."""

COAGULATION_COMPONENTS = (("inr", 1.0), ("fibrinogen", -1.0), ("platelets", -1.0))
"""Terms of the coagulation-depletion score with their signs (equal weights: assumption, the paper
names the three but gives no weights; the sign says which direction depletes the reserve)."""


def _normal_pdf(x: float) -> float:
    """The standard normal density (0 at +-inf)."""
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi) if math.isfinite(x) else 0.0


@dataclass(frozen=True)
class Marginal:
    """A normal(``mu``, ``sigma``) distribution on the natural scale, or on the log scale when
    ``log``, truncated to [``lower``, ``upper``] (natural scale, ``-inf``/``inf`` for none)."""

    mu: float
    sigma: float
    log: bool = False
    lower: float = -math.inf
    upper: float = math.inf

    def _bounds(self) -> tuple[float, float]:
        """Standardized truncation points on the working scale."""
        lo, hi = self.lower, self.upper
        if self.log:
            lo = math.log(lo) if lo > 0 else -math.inf
            hi = math.log(hi) if hi < math.inf else math.inf
        return (lo - self.mu) / self.sigma, (hi - self.mu) / self.sigma

    @property
    def truncated(self) -> bool:
        a, b = self._bounds()
        return math.isfinite(a) or math.isfinite(b)

    def from_normal(self, z: np.ndarray) -> np.ndarray:
        """Values whose latent standard normal is ``z`` (the inverse-CDF transform)."""
        from scipy import special  # here: importing scipy.special adds ~0.3 s to every start-up

        if self.truncated:
            a, b = self._bounds()
            fa, fb = special.ndtr(a), special.ndtr(b)
            w = special.ndtri(np.clip(fa + special.ndtr(z) * (fb - fa), fa, fb))
            w = np.clip(w, a, b)
        else:
            w = z
        x = self.mu + self.sigma * w
        return np.exp(x) if self.log else x

    def moment(self, k: int) -> float:
        """Raw moment E[X^k], k = 1 or 2, of the truncated distribution."""
        from scipy import special  # here: importing scipy.special adds ~0.3 s to every start-up

        a, b = self._bounds()
        if self.log:
            mass = special.ndtr(b) - special.ndtr(a)
            shifted = special.ndtr(b - k * self.sigma) - special.ndtr(a - k * self.sigma)
            return float(math.exp(k * self.mu + (k * self.sigma) ** 2 / 2) * shifted / mass)
        # Truncated normal: with Z = Phi(b) - Phi(a), E[W] = (phi(a) - phi(b)) / Z and
        # E[W^2] = 1 + (a phi(a) - b phi(b)) / Z for the standardized W; a*phi(a) is 0 at infinity.
        mass = special.ndtr(b) - special.ndtr(a)
        pa, pb = _normal_pdf(a), _normal_pdf(b)
        apa = a * pa if math.isfinite(a) else 0.0
        bpb = b * pb if math.isfinite(b) else 0.0
        w1 = (pa - pb) / mass
        w2 = 1 + (apa - bpb) / mass
        if k == 1:
            return float(self.mu + self.sigma * w1)
        return float(self.mu**2 + 2 * self.mu * self.sigma * w1 + self.sigma**2 * w2)

    def mean_sd(self) -> tuple[float, float]:
        m1, m2 = self.moment(1), self.moment(2)
        return m1, math.sqrt(max(m2 - m1 * m1, 0.0))

    def cdf(self, x: float) -> float:
        """P(X <= x)."""
        from scipy import special  # here: importing scipy.special adds ~0.3 s to every start-up

        a, b = self._bounds()
        if self.log:
            s = (math.log(x) - self.mu) / self.sigma if x > 0 else -math.inf
        else:
            s = (x - self.mu) / self.sigma
        fa, fb = special.ndtr(a), special.ndtr(b)
        return float((special.ndtr(min(max(s, a), b)) - fa) / (fb - fa))

    def restrict(self, lower: float, upper: float) -> Marginal:
        """The same parent distribution truncated to the intersection with [lower, upper]."""
        return Marginal(self.mu, self.sigma, self.log, max(self.lower, lower), min(self.upper, upper))


def fit_marginal(
    mean: float, sd: float, *, log: bool, lower: float = -math.inf, upper: float = math.inf
) -> Marginal:
    """The :class:`Marginal` whose truncated mean and SD are ``mean`` and ``sd``.

    Starts from the untruncated moment match (for the log-normal: sigma^2 = ln(1 + sd^2/mean^2),
    mu = ln(mean) - sigma^2 / 2) and solves the two moment equations with ``scipy.optimize.root``.
    """
    if log:
        s2 = math.log1p((sd / mean) ** 2)
        start = np.array([math.log(mean) - s2 / 2, 0.5 * math.log(s2)])
    else:
        start = np.array([mean, math.log(sd)])

    def marginal(x: np.ndarray) -> Marginal:
        return Marginal(float(x[0]), float(math.exp(x[1])), log, lower, upper)

    def residual(x: np.ndarray) -> np.ndarray:
        m, s = marginal(x).mean_sd()
        return np.array([(m - mean) / sd, (s - sd) / sd])

    if not marginal(start).truncated:
        return marginal(start)
    from scipy import optimize  # imported here: a fit is rare, and scipy.optimize slows every start-up

    sol = optimize.root(residual, start, method="hybr", options={"xtol": 1e-12})
    if not sol.success or np.max(np.abs(residual(sol.x))) > 1e-8:
        raise ValueError(f"cannot fit a truncated distribution with mean {mean} and SD {sd}")
    return marginal(sol.x)


@dataclass(frozen=True)
class Eligibility:
    """Eligibility criteria that truncate the covariates (bounds inclusive).

    Defaults are the HALPC phase II criteria: MELD-Na > 35 excluded (paper, exclusion (x)); adults
    (age >= 18: assumption, the paper does not state an age range); no weight criterion.
    """

    meld_na_max: float = 35.0
    age_min: float = 18.0
    age_max: float = math.inf
    weight_min_kg: float = 0.0

    @classmethod
    def nct05727722(cls) -> Eligibility:
        """Adds the criteria of ClinicalTrials.gov registry record NCT05727722 (facts in
        ``docs/sources.md``): age 18-65 years, weight > 40 kg (a strict bound; continuous weights
        make it the same as >= 40)."""
        return cls(age_min=18.0, age_max=65.0, weight_min_kg=40.0)


@cache
def table1_parents() -> dict[str, Marginal]:
    """Parent (pre-screening) marginals fitted so that, under the default :class:`Eligibility`,
    each matches its Table 1 mean and SD (weight: the assumed :data:`WEIGHT_MEAN_KG`,
    :data:`WEIGHT_SD_KG`).  Kept in the on-disk cache (:mod:`doseesc.cache`): the fit needs
    scipy.optimize, whose import alone takes longer than a warm run of a simulation."""
    from doseesc.cache import cached_arrays

    key = {
        "table1": {name: list(values) for name, values in TABLE1.items()},
        "weight": [WEIGHT_MEAN_KG, WEIGHT_SD_KG],
        "eligibility": repr(Eligibility()),
        "meld_na_floor": MELD_NA_FLOOR,
    }
    fields = ("mu", "sigma", "log", "lower", "upper")

    def fit() -> dict[str, np.ndarray]:
        return {
            name: np.array([float(getattr(m, f)) for f in fields])
            for name, m in _fit_table1_parents().items()
        }

    arrays = cached_arrays("table1-parents", key, fit, lambda a: all(v.shape == (5,) for v in a.values()))
    return {
        name: Marginal(float(v[0]), float(v[1]), bool(v[2]), float(v[3]), float(v[4]))
        for name, v in arrays.items()
    }


def _fit_table1_parents() -> dict[str, Marginal]:
    e = Eligibility()
    return {
        "age": fit_marginal(*TABLE1["age"], log=False, lower=e.age_min, upper=e.age_max),
        "weight": fit_marginal(WEIGHT_MEAN_KG, WEIGHT_SD_KG, log=True),
        "inr": fit_marginal(*TABLE1["inr"], log=True),
        "fibrinogen": fit_marginal(*TABLE1["fibrinogen"], log=True),
        "platelets": fit_marginal(*TABLE1["platelets"], log=True),
        "meld_na": fit_marginal(*TABLE1["meld_na"], log=False, lower=MELD_NA_FLOOR, upper=e.meld_na_max),
    }


def correlation_matrix(pairs: Mapping[tuple[str, str], float]) -> np.ndarray:
    """The latent correlation matrix over :data:`VARIABLES` (``ValueError`` if not positive definite)."""
    index = {name: i for i, name in enumerate(VARIABLES)}
    r = np.eye(len(VARIABLES))
    for (a, b), value in pairs.items():
        if a not in index or b not in index or a == b:
            raise ValueError(
                f"correlations: unknown pair ({a!r}, {b!r}); allowed names: {', '.join(VARIABLES)}"
            )
        if not -1 < value < 1:
            raise ValueError(f"correlations[({a!r}, {b!r})] = {value}: must be in (-1, 1)")
        r[index[a], index[b]] = r[index[b], index[a]] = value
    if np.linalg.eigvalsh(r)[0] <= 1e-9:
        raise ValueError("correlations: the latent correlation matrix is not positive definite")
    return r


@dataclass(frozen=True, eq=False)
class Population:
    """Virtual patients of the HALPC phase II population under ``eligibility``.

    Draws go through :class:`~doseesc.streams.TrialStreams` only (so simulations are bit-identical
    whatever the chunking) or through a scrambled Sobol sequence (:meth:`quasi_random`, for
    population averages).  Only the requested covariates (and what they are computed from) are
    drawn, from the corresponding block of the copula.
    """

    eligibility: Eligibility = field(default_factory=Eligibility)
    correlations: Mapping[tuple[str, str], float] = field(default_factory=lambda: dict(LATENT_CORRELATIONS))

    def __post_init__(self) -> None:
        e = self.eligibility
        parents = table1_parents()
        bounds = {
            "age": (e.age_min, e.age_max),
            "weight": (e.weight_min_kg, math.inf),
            "meld_na": (MELD_NA_FLOOR, e.meld_na_max),
        }
        marginals = {
            name: parents[name].restrict(*bounds.get(name, (-math.inf, math.inf))) for name in VARIABLES[:-1]
        }
        # _from_latent computes the coagulation score from the latent normals: valid for untruncated
        # log-normal components, which no eligibility criterion bounds.
        assert all(marginals[n].log and not marginals[n].truncated for n, _ in COAGULATION_COMPONENTS)
        object.__setattr__(self, "marginals", marginals)
        object.__setattr__(self, "_corr", correlation_matrix(self.correlations))
        # Scale of the raw coagulation score so that it has SD 1 in this population.
        idx = [VARIABLES.index(n) for n, _ in COAGULATION_COMPONENTS]
        w = np.array([s for _, s in COAGULATION_COMPONENTS])
        object.__setattr__(self, "_score_scale", float(np.sqrt(w @ self._corr[np.ix_(idx, idx)] @ w)))
        object.__setattr__(self, "_chol_cache", {})

    marginals: dict[str, Marginal] = field(init=False, repr=False)
    _corr: np.ndarray = field(init=False, repr=False)
    _score_scale: float = field(init=False, repr=False)
    _chol_cache: dict[tuple[str, ...], np.ndarray] = field(init=False, repr=False)

    @cached_property
    def aclf_thresholds(self) -> np.ndarray:
        """Latent-normal thresholds of the ACLF grades (their Table 1 shares)."""
        from scipy import special  # here: importing scipy.special adds ~0.3 s to every start-up

        return special.ndtri(np.cumsum(ACLF_COUNTS)[:-1] / sum(ACLF_COUNTS))

    def _base(self, names: Sequence[str]) -> list[str]:
        need = set()
        for name in names:
            if name == "coagulation_score":
                need.update(n for n, _ in COAGULATION_COMPONENTS)
            elif name in VARIABLES:
                need.add(name)
            else:
                raise ValueError(
                    f"covariate {name!r} is not in the population; allowed: {', '.join(VARIABLES + DERIVED)}"
                )
        return [n for n in VARIABLES if n in need]

    def _from_latent(self, base: list[str], z: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
        """Covariates from independent standard normals ``z`` (one row per name in ``base``)."""
        latent = np.einsum("ij,j...->i...", self._chol(tuple(base)), z)
        values: dict[str, np.ndarray] = {}
        for i, name in enumerate(base):
            if name not in names:
                continue  # only needed for the coagulation score, computed from the latent normals
            if name == "aclf_grade":
                values[name] = np.searchsorted(self.aclf_thresholds, latent[i]).astype(float)
            else:
                values[name] = self.marginals[name].from_normal(latent[i])
        if "coagulation_score" in names:
            # Its components are untruncated log-normals (no eligibility criterion bounds them, see
            # __post_init__), so each standardized log in coagulation_score() is the component's
            # latent normal itself: the same score without the round trip through exp and log.
            score = 0.0
            for name, sign in COAGULATION_COMPONENTS:
                score = score + sign * latent[base.index(name)]
            values["coagulation_score"] = score / self._score_scale
        return {name: values[name] for name in names}

    def _chol(self, base: tuple[str, ...]) -> np.ndarray:
        """Cholesky factor of the latent correlations of ``base``, cached: the events engine draws
        one patient at a time."""
        chol = self._chol_cache.get(base)
        if chol is None:
            idx = [VARIABLES.index(n) for n in base]
            chol = np.linalg.cholesky(self._corr[np.ix_(idx, idx)])
            chol.setflags(write=False)
            self._chol_cache[base] = chol
        return chol

    def draw(self, streams: TrialStreams, size: int, names: Sequence[str]) -> dict[str, np.ndarray]:
        """``size`` new patients for every running trial: ``(size, n_trials)`` arrays per name."""
        base = self._base(names)
        if not base:
            return {}
        z = streams.standard_normal(len(base) * size).reshape(len(base), size, streams.n_trials)
        return self._from_latent(base, z, names)

    def quasi_random(self, m: int, names: Sequence[str], seed: int = 0) -> dict[str, np.ndarray]:
        """``2**m`` virtual patients from a scrambled Sobol sequence (``scipy.stats.qmc``, fixed
        ``seed``): ``(2**m,)`` arrays per name, for population averages by quasi-Monte Carlo."""
        base = self._base(names)
        if not base:
            return {}
        from scipy import special
        from scipy.stats import qmc  # imported here: scipy.stats slows every start-up

        u = qmc.Sobol(len(base), scramble=True, rng=seed).random_base2(m)
        z = special.ndtri(np.clip(u, 1e-15, 1 - 1e-15)).T
        return self._from_latent(base, z, names)

    def coagulation_score(self, inr: np.ndarray, fibrinogen: np.ndarray, platelets: np.ndarray) -> np.ndarray:
        """Coagulation-depletion score: how far a patient's coagulation reserve is below the typical one.

        ``[(ln INR - m_inr)/s_inr - (ln fib - m_fib)/s_fib - (ln plt - m_plt)/s_plt] / k``, where
        ``m``, ``s`` are the log-scale mean and SD of each log-normal marginal (Table 1) and ``k``
        makes the score's SD 1 under the latent correlations.  The typical patient (median INR
        1.94, fibrinogen 2.18 g/L, platelets 112 x 10^9/L) scores 0; +1 is one population SD more
        depleted (higher INR, lower fibrinogen and platelets).  Since the three marginals are
        untruncated log-normals, the score is exactly standard normal in the population.
        """
        total = 0.0
        for (name, sign), x in zip(COAGULATION_COMPONENTS, (inr, fibrinogen, platelets), strict=True):
            m = self.marginals[name]
            total = total + sign * (np.log(x) - m.mu) / m.sigma
        return total / self._score_scale

    def weight_quadrature(self, n: int = 24) -> tuple[np.ndarray, np.ndarray]:
        """Nodes (kg) and weights (summing to 1) of an ``n``-point rule for averages over body weight
        alone: Gauss-Hermite over its latent standard normal, mapped through the weight marginal
        (log-normal, truncated by the eligibility's ``weight_min_kg``).  Averages over weight and
        the coagulation score factorise when weight's latent correlations with INR, fibrinogen and
        platelets are 0, as in :data:`LATENT_CORRELATIONS`."""
        z, weights = np.polynomial.hermite_e.hermegauss(n)
        return self.marginals["weight"].from_normal(z), weights / weights.sum()

    def score_quadrature(self, n: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """Nodes and weights (summing to 1) of an ``n``-point Gauss-Hermite rule for averages over
        the population's ``coagulation_score`` (standard normal, see :meth:`coagulation_score`)."""
        nodes, weights = np.polynomial.hermite_e.hermegauss(n)
        return nodes, weights / weights.sum()
