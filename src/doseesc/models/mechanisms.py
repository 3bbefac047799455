"""Toxicity from several mechanisms, over a regimen of several administrations.

**Any mechanism fires.**  Given the patient (covariates) and the parameters, mechanisms act
independently and a patient has a DLT when at least one fires:

    P(DLT) = 1 - prod_j (1 - p_j)

A mechanism named in ``events`` (e.g. "severe bleeding") is also tallied on its own: its
probability is ``p_j <= P(DLT)``, so with the engines' single uniform per patient every such event
is a DLT.

**Regimens.**  :class:`Regimen` is ``infusions`` administrations of the same dose ``x``, one every
``interval_days`` days.  Administration ``k`` (``k = 0, 1, ...``) acts with the load

    L_k = x * sum_{j <= k} 2 ** (-(k - j) * interval_days / h)

where ``h`` is the mechanism's ``carryover_half_life_days``: what an earlier administration
consumed (e.g. procoagulant factors) is restored with half-life ``h``, so closely spaced
administrations add up; without a carry-over (``h`` None) every ``L_k = x``.  Given the patient,
administrations fire independently with probability ``p(L_k)``, so the regimen's risk for one
mechanism is

    P(mechanism fires during the regimen) = 1 - prod_k (1 - p(L_k)).

The probability is the same whether or not the remaining administrations are withheld after a DLT
(a DLT ends the patient's count either way).  The DLT window is assumed to cover the whole regimen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, is_dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

import numpy as np

from doseesc.cache import cached_arrays, digest
from doseesc.models.units import DoseLevels, canonical_unit, convert_dose
from doseesc.population import Population
from doseesc.streams import TrialStreams

if TYPE_CHECKING:
    from doseesc.models.logistic import Posterior

QMC_LOG2 = 14
"""Population averages use 2**14 quasi-random virtual patients (fixed parameters)."""

POSTERIOR_QMC_LOG2 = 10
"""... and 2**10 per posterior draw when averaging over a posterior too (the draws smooth it)."""

SCORE_STEP = 0.25
"""Spacing of the trapezoidal rule over the coagulation score (standard normal) when its effect on
the log-odds is at most :data:`SCORE_STEP_EFFECT`; halved as often as needed to stay at most
1 / effect above that."""

SCORE_STEP_EFFECT = 4.0

SCORE_RANGE = 9.0
"""The rule spans scores within +-9 SD (the normal tail beyond is below 1e-18)."""


def any_mechanism(risks: Sequence[np.ndarray]) -> np.ndarray:
    """``1 - prod_j (1 - risks[j])``, and never below any single risk despite rounding."""
    if len(risks) == 1:
        return risks[0]
    survive = 1.0 - risks[0]
    for r in risks[1:]:
        survive = survive * (1.0 - r)
    return np.maximum(1.0 - survive, np.maximum.reduce(np.broadcast_arrays(*risks)))


@dataclass(frozen=True)
class Regimen:
    """``infusions`` administrations of the same dose, ``interval_days`` days apart (see the module)."""

    infusions: int = 1
    interval_days: float = 7.0

    def __post_init__(self) -> None:
        if not (isinstance(self.infusions, int | np.integer) and self.infusions >= 1):
            raise ValueError(f"infusions must be a whole number >= 1, got {self.infusions!r}")
        if not self.interval_days >= 0:
            raise ValueError(f"interval_days must be >= 0 (days), got {self.interval_days!r}")

    def loads(self, half_life_days: float | None) -> tuple[float, ...]:
        """Load of each administration relative to the dose: ``L_k / x``."""
        if half_life_days is None:
            return (1.0,) * self.infusions
        decay = 2.0 ** (-self.interval_days / half_life_days)
        out, load = [], 0.0
        for _ in range(self.infusions):
            load = load * decay + 1.0
            out.append(load)
        return tuple(out)

    def risk(self, per_administration: Sequence[np.ndarray]) -> np.ndarray:
        """``1 - prod_k (1 - p_k)`` over the administrations (the single one unchanged)."""
        if len(per_administration) == 1:
            return per_administration[0]
        survive = 1.0 - per_administration[0]
        for p in per_administration[1:]:
            survive = survive * (1.0 - p)
        return 1.0 - survive


class Mechanism(Protocol):
    """One mechanism of toxicity (e.g. :class:`~doseesc.models.logistic.LogisticRisk`)."""

    name: str
    carryover_half_life_days: float | None
    posterior: Posterior | None
    parameter_names: tuple[str, ...]

    @property
    def unit(self) -> str:
        """The dose unit :meth:`risk` reads."""
        ...

    @property
    def covariates(self) -> tuple[str, ...]:
        """Population covariates :meth:`risk` reads (those with a non-zero effect)."""
        ...

    def parameters(self) -> np.ndarray:
        """Fixed parameter vector (used when there is no posterior)."""
        ...

    def risk(self, dose: np.ndarray, covariates: Mapping[str, np.ndarray], params: np.ndarray) -> np.ndarray:
        """Probability per administration; ``params`` rows broadcast against ``dose``."""
        ...


@dataclass(frozen=True, eq=False)
class MechanismModel:
    """A toxicity model for the engines: DLT when any of ``mechanisms`` fires over ``regimen``.

    ``doses`` are the trial's dose levels; a mechanism reading cells/kg converts absolute cells
    through each patient's body weight (and vice versa); other unit pairs are an error.  Patients'
    covariates come from ``population`` and enter through averages over it
    (:attr:`probability_table`): given the parameters, patients are independent draws from the
    population, so their DLT count in a cohort is binomial with the averaged probability.  With every
    covariate effect zero (and no posterior) the model is
    :class:`~doseesc.models.table.DoseToxicityTable` number for number.

    A mechanism with a ``posterior`` (at most one) has its parameters drawn once per simulated trial
    (one uniform per trial).  Patients of a trial are then dependent through the shared draw, so
    :attr:`independent_patients` is False and the exact engine, which assumes independent patients
    with fixed probabilities, does not apply; :meth:`mean_probabilities` is then the posterior mean of
    the population-averaged probability (each patient's marginal risk), reported with the results.
    """

    doses: DoseLevels
    mechanisms: tuple[Mechanism, ...]
    regimen: Regimen = field(default_factory=Regimen)
    population: Population | None = None
    events: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        mechanisms = tuple(self.mechanisms)
        object.__setattr__(self, "mechanisms", mechanisms)
        object.__setattr__(self, "events", tuple(self.events))
        names = [m.name for m in mechanisms]
        if not mechanisms or len(set(names)) != len(names):
            raise ValueError(f"mechanisms: expected one or more with distinct names, got {names}")
        for e in self.events:
            if e not in names:
                raise ValueError(f"events: {e!r} is not a mechanism; allowed: {', '.join(names)}")
        need = []
        for m in mechanisms:
            unit = canonical_unit(m.unit, f"{m.name}: unit")
            if unit != self.doses.unit and not self.doses.needs_weight(unit):
                raise ValueError(
                    f"doses: doses in {self.doses.unit} cannot be used by {m.name!r}, which reads {unit} "
                    "(mixing units)"
                )
            need += [*m.covariates, *(["weight"] if self.doses.needs_weight(unit) else [])]
        covariates = tuple(dict.fromkeys(need))
        if sum(m.posterior is not None for m in mechanisms) > 1:
            raise ValueError("mechanisms: at most one may have its parameters drawn from a posterior")
        if covariates and self.population is None:
            raise ValueError(f"population: needed to draw the covariates {', '.join(covariates)}")
        object.__setattr__(self, "covariates", covariates)

    covariates: tuple[str, ...] = field(init=False)
    """Population covariates the mechanisms read (averaged over the population)."""

    @property
    def n_doses(self) -> int:
        return self.doses.n

    @property
    def independent_patients(self) -> bool:
        """Whether patients are independent given the dose (no parameters drawn per trial): the
        condition for the exact engine."""
        return all(m.posterior is None for m in self.mechanisms)

    def _mechanism_risk(
        self, m: Mechanism, dose: np.ndarray, covariates: Mapping[str, np.ndarray], params: np.ndarray
    ) -> np.ndarray:
        """One mechanism's risk over the regimen; ``dose`` in the levels' unit."""
        d = convert_dose(dose, self.doses.unit, m.unit, "doses", covariates.get("weight"))
        loads = self.regimen.loads(m.carryover_half_life_days)
        return self.regimen.risk([m.risk(d * load, covariates, params) for load in loads])

    @cached_property
    def _posterior(self) -> Posterior | None:
        """The posterior the trials draw from (at most one mechanism has one, see __post_init__)."""
        return next((m.posterior for m in self.mechanisms if m.posterior is not None), None)

    def _score_effect(self, kinds: slice) -> np.ndarray:
        """Largest |log-odds per SD of the coagulation score| over the mechanisms, per kind."""
        effect = np.zeros(kinds.stop - kinds.start)
        for m in self.mechanisms:
            names = m.parameter_names
            if "coagulation_score" in names:
                row = names.index("coagulation_score")
                values = m.parameters()[row] if m.posterior is None else m.posterior.draws[row, kinds]
                effect = np.maximum(effect, np.abs(values))
        return effect

    def virtual_groups(self, n_kinds: int) -> list[tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]]:
        """The virtual patients over which the model averages a risk over the population (its
        probability table), for ``n_kinds`` trial kinds (posterior draws; 1 without a posterior).

        Each group is (the kinds it serves, as indices; the virtual patients, one array of values per
        covariate the model reads, an empty dict when it reads none; their weights, summing to 1):
        the population average of a function ``f`` of the covariates for a kind of the group is
        ``weights @ f(virtual patients)``.  Other averages over the same population, such as the
        events engine's per-infusion risks (:mod:`doseesc.engines.events_infusions`), use them so
        that they agree with the table.

        The coagulation score alone is exactly standard normal
        (:meth:`~doseesc.population.Population.coagulation_score`) and the risks are logistic in
        it: the trapezoidal rule over a normal density converges geometrically for integrands
        analytic in a strip, here of half-width pi / effect (the poles of the logistic), as
        exp(-2 pi x half-width / spacing): with a spacing of at most 1 / effect, below 1e-8
        (Trefethen & Weideman, "The exponentially convergent trapezoidal rule", SIAM Review 2014).
        Kinds are grouped by the spacing they need.  Other covariates are averaged by quasi-Monte
        Carlo over the whole population."""
        if not self.covariates:
            return [(np.arange(n_kinds), {}, np.ones(1))]
        if self.covariates == ("coagulation_score",):
            effect = self._score_effect(slice(0, n_kinds))
            halvings = np.ceil(np.log2(np.maximum(effect, SCORE_STEP_EFFECT) / SCORE_STEP_EFFECT)).astype(int)
            groups = []
            for k in np.unique(halvings):
                h = SCORE_STEP / 2.0**k
                z = np.arange(-round(SCORE_RANGE / h), round(SCORE_RANGE / h) + 1) * h
                w = np.exp(-0.5 * z * z)
                groups.append((np.flatnonzero(halvings == k), {"coagulation_score": z}, w / w.sum()))
            return groups
        log2 = QMC_LOG2 if self._posterior is None else POSTERIOR_QMC_LOG2
        virtual = self.population.quasi_random(log2, self.covariates)
        return [(np.arange(n_kinds), virtual, np.full(1 << log2, 0.5**log2))]

    def _table(self) -> np.ndarray:
        """``(n_kinds, 1 + len(events), n_doses)`` averaged over the population."""
        post = self._posterior
        n_kinds = 1 if post is None else post.weights.shape[0]
        out = np.empty((n_kinds, 1 + len(self.events), self.n_doses))
        for kinds, virtual, vw in self.virtual_groups(n_kinds):
            virtual = {k: v[:, None] for k, v in virtual.items()}  # virtual patients x kinds
            step = max(1, (1 << 20) // vw.shape[0])  # bounds the (virtual patients x kinds) arrays
            for lo in range(0, kinds.shape[0], step):
                these = kinds[lo : lo + step]
                shape = (vw.shape[0], these.shape[0])
                for d, dose in enumerate(self.doses.values):
                    risks = {
                        m.name: np.broadcast_to(
                            self._mechanism_risk(
                                m,
                                np.asarray(dose),
                                virtual,
                                m.parameters()[:, None]
                                if m.posterior is None
                                else m.posterior.draws[:, these],
                            ),
                            shape,
                        )
                        for m in self.mechanisms
                    }
                    out[these, 0, d] = vw @ any_mechanism(list(risks.values()))
                    for i, e in enumerate(self.events):
                        out[these, 1 + i, d] = vw @ risks[e]
        # Averages of ordered quantities stay ordered, but not always after rounding.
        out[:, 0] = np.maximum(out[:, 0], out[:, 1:].max(axis=1, initial=0.0))
        return out

    @cached_property
    def probability_table(self) -> np.ndarray:
        """``(n_kinds, 1 + len(events), n_doses)``: P(DLT) and P(each event) of a patient at each dose,
        averaged over the population, for each kind of trial: one kind with fixed parameters, one
        per posterior draw otherwise (see :class:`~doseesc.models.base.ToxicityModel`).  With a
        posterior it is kept in the on-disk cache (:mod:`doseesc.cache`)."""
        post = self._posterior
        if post is None:
            table = self._table()
        else:
            shape = (post.weights.shape[0], 1 + len(self.events), self.n_doses)

            def valid(arrays: dict[str, np.ndarray]) -> bool:
                t = arrays.get("table")
                return t is not None and t.shape == shape and bool(np.all((t >= 0) & (t <= 1)))

            table = cached_arrays(
                "mechanism-table", self._cache_key(), lambda: {"table": self._table()}, valid
            )["table"]
        table.setflags(write=False)
        return table

    def _cache_key(self) -> dict:
        """Everything :meth:`_table` depends on, for the on-disk cache."""
        mechanisms = []
        for m in self.mechanisms:
            fixed = replace(m, posterior=None) if is_dataclass(m) else m
            post = m.posterior
            mechanisms.append([repr(fixed), None if post is None else digest(post.draws, post.weights)])
        return {
            "doses": self.doses.values.tolist(),
            "unit": self.doses.unit,
            "regimen": [int(self.regimen.infusions), float(self.regimen.interval_days)],
            "population": repr(self.population),
            "mechanisms": mechanisms,
            "events": list(self.events),
            "integration": [SCORE_STEP, SCORE_STEP_EFFECT, SCORE_RANGE, POSTERIOR_QMC_LOG2],
        }

    @cached_property
    def average_probabilities(self) -> np.ndarray:
        """``(1 + len(events), n_doses)``: P(DLT) and P(each event) per dose, averaged over the
        population and, where there is one, the posterior."""
        post = self._posterior
        table = self.probability_table
        out = table[0] if post is None else np.einsum("k,krd->rd", post.weights, table)
        out = np.array(out)
        out.setflags(write=False)
        return out

    def draw_trials(self, streams: TrialStreams) -> np.ndarray:
        """Each trial's kind: its posterior draw (one uniform per trial), or 0 with fixed parameters
        (no random numbers used)."""
        post = self._posterior
        if post is None:
            return np.zeros(streams.n_trials, dtype=np.intp)
        return post.pick_index(streams.random(1)[0])

    def mean_probabilities(self) -> np.ndarray:
        """Population-averaged P(DLT) per dose (posterior-averaged too when parameters are drawn per
        trial: then not an input for the exact engine, see the class)."""
        return self.average_probabilities[0]
