"""Which infusion a DLT follows in the events engine (``dlt_onset = "after_infusion"``).

Truths: a model whose second infusion carries all the risk puts every DLT after infusion 2; with
patients who differ (a coagulation score, standard normal, on the log-odds) the infusion of the
first DLT, given a DLT, has the law

    P(k | DLT) = E[r_k prod_{j<k} (1 - r_j)] / E[1 - prod_j (1 - r_j)],

the expectations over the score computed here by adaptive quadrature (scipy.integrate.quad), not by
the engine's trapezoidal rule.  Draws are compared with it within Z = 4 binomial standard errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pytest
from scipy import integrate, stats

from doseesc.conduct import Conduct
from doseesc.designs import ThreePlusThree, compile_design
from doseesc.engines.accrual import Uniforms
from doseesc.engines.events import run_events
from doseesc.engines.events_infusions import first_infusion_cdf, level_regimens
from doseesc.engines.events_setup import Setup
from doseesc.engines.events_trial import Trial
from doseesc.models import CovariateTerm, DoseLevels, LogisticRisk, MechanismModel, Regimen
from doseesc.models.table import DoseToxicityTable
from doseesc.models.units import Dose
from doseesc.population import Population

Z = 4.0
DOSES = DoseLevels.parse("1,2,4", "1e6cells/kg")


@dataclass(frozen=True)
class SecondInfusionOnly:
    """A mechanism that fires only with the second infusion's load: with a 7-day half-life and 7
    days between infusions the loads are 1, 1.5 and 1.75 times the dose."""

    name: str = "bleed"
    carryover_half_life_days: float | None = 7.0
    posterior: None = None
    parameter_names: tuple[str, ...] = ()
    unit: str = "cells/kg"
    covariates: tuple[str, ...] = ()

    def parameters(self) -> np.ndarray:
        return np.zeros((0,))

    def risk(self, dose, covariates, params):
        ratio = np.asarray(dose, dtype=float)[..., None] / DOSES.values
        return np.where(np.isclose(ratio, 1.5).any(axis=-1), 0.6, 0.0)


def second_only_model() -> MechanismModel:
    return MechanismModel(DOSES, (SecondInfusionOnly(),), Regimen(3, 7.0), events=("bleed",))


def conduct(infusions: int = 3) -> Conduct:
    return Conduct(
        3.0,
        infusions=infusions,
        interval_days=7.0,
        window_days=28.0,
        dlt_onset="after_infusion",
        onset_days=3.0,
    )


def test_every_dlt_follows_the_infusion_that_carries_the_risk():
    model = second_only_model()
    assert np.array_equal(model.probability_table[0, 0], [0.6, 0.6, 0.6])
    assert np.array_equal(first_infusion_cdf(model)[0], [[0.0, 1.0, 1.0]] * 3)
    infusion_of = []
    for seed in range(12):  # each run's first trial keeps its event log
        log = run_events(ThreePlusThree(3), model, conduct(), 1, seed=seed).log
        first_dose = {r.patient: r.time for r in log if r.kind == "infusion" and r.note.startswith("1 of")}
        for r in log:
            if r.kind == "dlt":
                infusion_of.append((r.time - first_dose[r.patient]) // 7.0)
    assert len(infusion_of) >= 20 and set(infusion_of) == {1.0}


def sample_infusions(model, c: Conduct, dose: int, n: int, seed: int) -> np.ndarray:
    """The infusion (0-based) of ``n`` DLT times the engine draws for a patient at ``dose``."""
    setup = Setup(compile_design(ThreePlusThree(model.n_doses)), model, c, first_infusion_cdf(model))
    trial = Trial(setup, Uniforms(np.random.default_rng(seed)), [], 0, None)
    return np.array([trial._dlt_time(dose) // c.interval_days for _ in range(n)], dtype=int)


def heterogeneous_model(infusions: int) -> MechanismModel:
    risk = LogisticRisk(
        "bleed",
        intercept=-2.0,
        slope=1.5,
        reference_dose=Dose(2e6, "cells/kg"),
        terms=(CovariateTerm("coagulation_score", 1.2),),
        carryover_half_life_days=5.0,
    )
    return MechanismModel(DOSES, (risk,), Regimen(infusions, 7.0), Population(), events=("bleed",))


def first_infusion_law(model: MechanismModel, dose: int) -> np.ndarray:
    """P(first DLT after infusion k | DLT) by quadrature over the standard normal score."""
    m = model.mechanisms[0]
    loads = model.regimen.loads(m.carryover_half_life_days)
    x = model.doses.values[dose]

    def first_at(k: int, z: float) -> float:
        r = [
            float(m.risk(np.asarray(x * load), {"coagulation_score": np.asarray(z)}, m.parameters()))
            for load in loads
        ]
        return r[k] * math.prod(1 - rj for rj in r[:k])

    numerators = [
        integrate.quad(lambda z, k=k: stats.norm.pdf(z) * first_at(k, z), -12, 12, epsabs=1e-12)[0]
        for k in range(len(loads))
    ]
    return np.array(numerators) / sum(numerators)


@pytest.mark.parametrize("dose", [0, 2])
def test_infusion_of_a_dlt_follows_the_per_infusion_risks(dose):
    model = heterogeneous_model(3)
    law = first_infusion_law(model, dose)
    n = 40_000
    se = np.sqrt(law * (1 - law) / n)
    assert np.max(np.abs(law - 1 / 3) / se) > 3 * Z  # a uniform draw would fail
    counts = np.bincount(sample_infusions(model, conduct(), dose, n, seed=dose), minlength=3)
    assert np.all(np.abs(counts / n - law) <= Z * se), (counts / n, law, se)
    # The engine's table agrees with the quadrature far below the Monte Carlo error.
    cdf = first_infusion_cdf(model)[0, dose]
    assert np.allclose(np.diff(cdf, prepend=0.0), law, atol=1e-6)


def test_the_infusion_does_not_change_whether_a_dlt_comes():
    """Only the DLT's timing changes: the selection of a run is the exact engine's."""
    from doseesc.engines import exact

    model, design, n = heterogeneous_model(2), ThreePlusThree(3), 6_000
    r = run_events(design, model, replace(conduct(2), cohort_decision="filled"), n, seed=3)
    ex = exact(design, model.mean_probabilities())
    assert np.all(np.abs(r.oc.p_select - ex.p_select) <= Z * np.sqrt(ex.p_select * (1 - ex.p_select) / n))


def test_a_table_model_keeps_the_uniform_draw():
    table = DoseToxicityTable([0.2, 0.3, 0.4])
    assert level_regimens(table) is None and first_infusion_cdf(table) is None
    n = 30_000
    counts = np.bincount(sample_infusions(table, conduct(), 1, n, seed=5), minlength=3)
    assert np.all(np.abs(counts / n - 1 / 3) <= Z * math.sqrt(2 / 9 / n))


def test_conduct_and_model_regimens_must_agree():
    with pytest.raises(
        ValueError,
        match=r"^Conduct\.infusions = 2, interval_days = 7: the toxicity model's regimen gives 3 infusions",
    ):
        run_events(ThreePlusThree(3), heterogeneous_model(3), conduct(2), 10, seed=1)


def test_virtual_groups_average_over_the_standard_normal_score():
    """The virtual patients of a model reading the coagulation score alone integrate over its law,
    the standard normal: weights summing to 1, its mean 0 and variance 1, and a patient's risk averaged
    over them is the quadrature's population risk."""
    model = heterogeneous_model(1)
    groups = model.virtual_groups(1)
    assert [g[0].tolist() for g in groups] == [[0]]
    _, virtual, w = groups[0]
    z = virtual["coagulation_score"]
    assert math.isclose(w.sum(), 1.0, abs_tol=1e-12)
    assert abs(w @ z) < 1e-12 and math.isclose(w @ z**2, 1.0, abs_tol=1e-8)
    m = model.mechanisms[0]
    x = model.doses.values[2]
    risk = m.risk(np.asarray(x), {"coagulation_score": z}, m.parameters())
    exact = integrate.quad(
        lambda s: (
            stats.norm.pdf(s)
            * float(m.risk(np.asarray(x), {"coagulation_score": np.asarray(s)}, m.parameters()))
        ),
        -12,
        12,
        epsabs=1e-12,
    )[0]
    assert math.isclose(w @ risk, exact, abs_tol=1e-8)
