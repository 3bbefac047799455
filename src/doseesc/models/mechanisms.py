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
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

import numpy as np

from doseesc.models.units import DoseLevels, canonical_unit, convert_dose
from doseesc.population import Population
from doseesc.streams import TrialStreams

if TYPE_CHECKING:
    from doseesc.models.logistic import Posterior

QMC_LOG2 = 14
"""Population averages use 2**14 quasi-random virtual patients (fixed parameters)."""

POSTERIOR_QMC_LOG2 = 10
"""... and 2**10 per posterior draw when averaging over a posterior too (the draws smooth it)."""


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
    covariates come from ``population`` and are drawn only when some mechanism reads them, so with
    every covariate effect zero (and no posterior) the model consumes exactly the random numbers of
    :class:`~doseesc.models.table.DoseToxicityTable` and reproduces it number for number.

    A mechanism with a ``posterior`` has its parameters drawn once per simulated trial (one uniform
    per trial and mechanism).  Patients of a trial are then dependent through the shared draw, so
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
        if covariates and self.population is None:
            raise ValueError(f"population: needed to draw the covariates {', '.join(covariates)}")
        object.__setattr__(self, "covariates", covariates)
        sizes = np.cumsum([len(m.parameters()) for m in mechanisms])
        object.__setattr__(self, "_offsets", np.concatenate([[0], sizes]))

    covariates: tuple[str, ...] = field(init=False)
    """Population covariates drawn for every patient."""
    _offsets: np.ndarray = field(init=False, repr=False)

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

    def _risks(
        self, dose: np.ndarray, covariates: Mapping[str, np.ndarray], params: Sequence[np.ndarray]
    ) -> dict[str, np.ndarray]:
        return {
            m.name: self._mechanism_risk(m, dose, covariates, p)
            for m, p in zip(self.mechanisms, params, strict=True)
        }

    def _q(
        self, dose: np.ndarray, covariates: Mapping[str, np.ndarray], params: Sequence[np.ndarray]
    ) -> np.ndarray:
        risks = self._risks(dose, covariates, params)
        rows = [any_mechanism(list(risks.values())), *(risks[e] for e in self.events)]
        out = np.empty((len(rows), *np.broadcast_shapes(*(np.shape(r) for r in rows))))
        for i, r in enumerate(rows):
            out[i] = r
        return out

    @cached_property
    def _levels(self) -> np.ndarray | None:
        """``(1 + len(events), n_doses)`` probabilities when every patient at a dose is alike."""
        if self.covariates or not self.independent_patients:
            return None
        levels = self._q(self.doses.values, {}, [m.parameters() for m in self.mechanisms])
        levels.setflags(write=False)
        return levels

    def draw_trials(self, streams: TrialStreams) -> np.ndarray:
        """Each trial's parameters: a posterior draw for a mechanism with a posterior (one uniform
        per trial), the fixed values otherwise (no random numbers used)."""
        rows = []
        for m in self.mechanisms:
            if m.posterior is None:
                rows.append(np.repeat(m.parameters()[:, None], streams.n_trials, axis=1))
            else:
                rows.append(m.posterior.pick(streams.random(1)[0]))
        return np.concatenate(rows, axis=0)

    def patient_probabilities(
        self, streams: TrialStreams, dose: np.ndarray, params: np.ndarray, size: int
    ) -> np.ndarray:
        if self._levels is not None:
            return np.take(self._levels, dose, axis=1)[:, None, :]
        covariates = self.population.draw(streams, size, self.covariates) if self.covariates else {}
        split = [params[lo:hi] for lo, hi in zip(self._offsets[:-1], self._offsets[1:], strict=True)]
        return self._q(np.take(self.doses.values, dose)[None, :], covariates, split)

    @cached_property
    def average_probabilities(self) -> np.ndarray:
        """``(1 + len(events), n_doses)``: P(DLT) and P(each event) per dose, averaged over the
        population (quasi-Monte Carlo, :data:`QMC_LOG2`) and, where there is one, the posterior."""
        if self._levels is not None:
            return self._levels
        log2 = QMC_LOG2 if self.independent_patients else POSTERIOR_QMC_LOG2
        virtual = self.population.quasi_random(log2, self.covariates) if self.covariates else {}
        virtual = {k: v[:, None] for k, v in virtual.items()}  # virtual patients x parameter draws
        out = np.empty((1 + len(self.events), self.n_doses))
        for d, dose in enumerate(self.doses.values):
            survive = {}
            for m in self.mechanisms:
                if m.posterior is None:
                    draws, weights = m.parameters()[:, None], np.ones(1)
                else:
                    draws, weights = m.posterior.draws, m.posterior.weights
                step = max(1, (1 << 20) >> log2)
                s = 0.0
                for lo in range(0, weights.shape[0], step):
                    risk = self._mechanism_risk(m, np.asarray(dose), virtual, draws[:, lo : lo + step])
                    s = s + (1.0 - risk) @ weights[lo : lo + step]
                survive[m.name] = s
            dlt = 1.0 - np.prod(np.broadcast_arrays(*survive.values()), axis=0)
            out[:, d] = [np.mean(dlt), *(np.mean(1.0 - survive[e]) for e in self.events)]
        out.setflags(write=False)
        return out

    def mean_probabilities(self) -> np.ndarray:
        """Population-averaged P(DLT) per dose (posterior-averaged too when parameters are drawn per
        trial: then not an input for the exact engine, see the class)."""
        return self.average_probabilities[0]
