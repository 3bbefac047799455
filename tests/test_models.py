"""Parametric toxicity models: units, logistic risk, mechanisms, regimens, and their agreement with
the table model and the exact engine.

Monte Carlo tolerances: an estimate from N independent trials is compared with its exact value
within Z = 4 standard errors (normal approximation: a false alarm with probability ~6e-5 per
comparison), the standard errors computed from the exact result (binomial for a proportion,
SD / sqrt(N) for a mean).  Seeds are fixed, so the tests are deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from doseesc.designs import ThreePlusThree
from doseesc.engines import exact, simulate
from doseesc.models import DoseToxicityTable
from doseesc.models.halpc import EVENT, halpc_bleeding_model, other_dlt
from doseesc.models.logistic import CovariateTerm, LogisticRisk, Posterior
from doseesc.models.mechanisms import MechanismModel, Regimen, any_mechanism
from doseesc.models.units import Dose, DoseLevels, convert_dose, parse_unit
from doseesc.population import Population
from doseesc.streams import TrialStreams

Z = 4.0
DOSES = DoseLevels.parse("0.3,0.6,1.2,2.5,5", "1e6cells/kg")
PER_KG = Dose(1e6, "cells/kg")


def _table_like(oc: dict) -> dict:
    """An OC dictionary without the model-specific parts (named events)."""
    return {k: v for k, v in oc.items() if k != "events"}


# --- units -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "scale", "unit"),
    [
        ("cells/kg", 1.0, "cells/kg"),
        ("1e6cells/kg", 1e6, "cells/kg"),
        ("1e6 cells/kg", 1e6, "cells/kg"),
        ("10^6 cells/kg", 1e6, "cells/kg"),
        ("1e9cells", 1e9, "cells"),
        ("mg/m2", 1.0, "mg/m^2"),
        ("MG/M^2", 1.0, "mg/m^2"),
    ],
)
def test_parse_unit(text, scale, unit):
    assert parse_unit(text) == (scale, unit)


def test_dose_levels_hold_base_units():
    assert DOSES.unit == "cells/kg"
    np.testing.assert_allclose(DOSES.values, [3e5, 6e5, 1.2e6, 2.5e6, 5e6], rtol=1e-15)
    assert DOSES.n == 5
    assert str(DOSES) == "0.3, 0.6, 1.2, 2.5, 5 (1e+06 cells/kg)"


@pytest.mark.parametrize(
    ("values", "unit", "match"),
    [
        ("0.3,0.6", "1e6furlongs", "dose_unit: unknown dose unit"),
        ("0.6,0.3", "cells/kg", "doses: dose levels must be strictly increasing"),
        ("0.3,-1", "cells/kg", r"doses\[1\]"),
        ("0.3,x", "cells/kg", "doses: expected comma-separated numbers"),
    ],
)
def test_bad_dose_levels_name_the_field(values, unit, match):
    with pytest.raises(ValueError, match=match):
        DoseLevels.parse(values, unit)


def test_mixing_units_in_a_dose_list_is_an_error_naming_the_field():
    doses = [Dose(3e5, "cells/kg"), Dose(2.5e8, "cells"), Dose(1e6, "cells/kg")]
    with pytest.raises(ValueError, match=r"doses\[1\]: unit 'cells' differs from 'cells/kg'"):
        DoseLevels.from_doses(doses)
    with pytest.raises(ValueError, match=r"levels\[1\]"):
        DoseLevels.from_doses(doses, field="levels")
    assert DoseLevels.from_doses([Dose(1.0, "mg/m2"), Dose(2.0, "mg/m^2")]).unit == "mg/m^2"


def test_mixing_units_between_doses_and_a_model_is_an_error_naming_the_field():
    mg = DoseLevels.parse("10,20,40", "mg/m^2")
    with pytest.raises(ValueError, match="doses: doses in mg/m\\^2 cannot be used by 'severe bleeding'"):
        halpc_bleeding_model(mg, parameters=(-3.0, 1.5, 0.0))
    with pytest.raises(ValueError, match="doses: doses in mg/m\\^2 cannot be used where cells/kg"):
        convert_dose(mg.values, mg.unit, "cells/kg", "doses")
    with pytest.raises(ValueError, match="doses: converting cells to cells/kg needs"):
        convert_dose(np.ones(2), "cells", "cells/kg", "doses")


def test_absolute_cells_are_divided_by_each_patients_weight():
    """Doses in cells: the model reads cells/kg = cells / weight, each patient's own, and averages
    the risk over the population: here against a plain Monte Carlo average over drawn patients."""
    cells = DoseLevels.parse("0.25,0.5", "1e9cells")
    pop = Population()
    model = halpc_bleeding_model(cells, Regimen(2, 7.0), parameters=(-3.0, 1.5, 0.8), population=pop)
    assert set(model.covariates) == {"coagulation_score", "weight"}
    n = 1 << 17
    cov = pop.draw(TrialStreams([np.random.SeedSequence(7)], [n]), 1, model.covariates)
    eta = -3.0 + 0.8 * cov["coagulation_score"][0]
    table = model.probability_table
    assert table.shape == (1, 2, 2)
    np.testing.assert_array_equal(table[0, 1], table[0, 0])  # bleeding is the only mechanism
    for d, dose in enumerate(cells.values):
        per_kg = dose / cov["weight"][0]
        first = special.expit(eta + 1.5 * np.log(per_kg / 1e6))
        second = special.expit(eta + 1.5 * np.log(1.25 * per_kg / 1e6))
        risk = 1 - (1 - first) * (1 - second)
        assert abs(table[0, 0, d] - risk.mean()) < 4 * risk.std() / math.sqrt(n)


# --- regimens and mechanisms -------------------------------------------------------------------


def test_regimen_loads_and_risk():
    np.testing.assert_allclose(Regimen(3, 7.0).loads(3.5), [1.0, 1.25, 1.3125])
    np.testing.assert_allclose(Regimen(3, 0.0).loads(3.5), [1.0, 2.0, 3.0])
    assert Regimen(3, 7.0).loads(None) == (1.0, 1.0, 1.0)
    p = [np.array(0.1), np.array(0.2)]
    assert Regimen(2).risk(p) == pytest.approx(1 - 0.9 * 0.8)
    assert Regimen(1).risk(p[:1]) is p[0]
    with pytest.raises(ValueError, match="infusions"):
        Regimen(0)
    with pytest.raises(ValueError, match="interval_days"):
        Regimen(2, -1.0)


def test_any_mechanism_is_never_below_a_single_mechanism():
    a = np.array([1e-20, 0.3, 0.0, 1.0])
    b = np.array([0.0, 0.5, 0.0, 0.2])
    both = any_mechanism([a, b])
    np.testing.assert_allclose(both, 1 - (1 - a) * (1 - b), atol=1e-15)
    assert np.all(both >= a) and np.all(both >= b)
    assert any_mechanism([a]) is a


def test_model_validation_names_fields():
    risk = LogisticRisk("DLT", -2.0, 1.0, PER_KG, (CovariateTerm("meld_na", 0.1, 27.0),))
    with pytest.raises(ValueError, match="population: needed"):
        MechanismModel(DOSES, (risk,))
    with pytest.raises(ValueError, match="events: 'bleeding' is not a mechanism"):
        MechanismModel(DOSES, (risk,), population=Population(), events=("bleeding",))
    with pytest.raises(ValueError, match="distinct names"):
        MechanismModel(DOSES, (risk, risk), population=Population())
    with pytest.raises(ValueError, match="slope must be >= 0"):
        LogisticRisk("DLT", -2.0, -1.0, PER_KG)
    with pytest.raises(ValueError, match="covariate 'bilirubin' is not in the population"):
        MechanismModel(
            DOSES,
            (LogisticRisk("DLT", -2.0, 1.0, PER_KG, (CovariateTerm("bilirubin", 0.1),)),),
            population=Population(),
        ).mean_probabilities()


# --- zero covariate effects: the table model, number for number (in distribution where the model
# counts bleeds apart) ---------------------------------------------------------------------------


def _zero_effect_models():
    pop = Population()
    terms = (CovariateTerm("meld_na", 0.0, 27.0), CovariateTerm("inr", 0.0, 0.0, log=True))
    logistic = MechanismModel(DOSES, (LogisticRisk("DLT", -2.5, 1.2, PER_KG, terms),), population=pop)
    halpc = halpc_bleeding_model(DOSES, Regimen(2, 7.0), parameters=(-3.2, 1.8, 0.0), population=pop)
    both = halpc_bleeding_model(
        DOSES, Regimen(2, 7.0), parameters=(-3.2, 1.8, 0.0), population=pop, other=other_dlt(0.03, 0.5)
    )
    return {"logistic": logistic, "halpc": halpc, "halpc+other": both}


def _expected_zero_effect(name: str) -> np.ndarray:
    """The per-dose DLT probability written out from the formulas (independently of the code)."""
    x = np.log(DOSES.values / 1e6)
    if name == "logistic":
        return special.expit(-2.5 + 1.2 * x)
    bleed = 1 - (1 - special.expit(-3.2 + 1.8 * x)) * (1 - special.expit(-3.2 + 1.8 * (x + np.log(1.25))))
    if name == "halpc":
        return bleed
    other = special.expit(special.logit(0.03) + 0.5 * x)
    return 1 - (1 - bleed) * (1 - other) ** 2


@pytest.mark.parametrize("name", ["logistic", "halpc", "halpc+other"])
def test_zero_covariate_effects_reduce_to_the_table_model(name):
    model = _zero_effect_models()[name]
    assert model.covariates == ()
    p = model.mean_probabilities()
    np.testing.assert_allclose(p, _expected_zero_effect(name), rtol=1e-13)
    table = DoseToxicityTable(p.copy())
    design = ThreePlusThree(5)
    mc_model = simulate(design, model, 40_000, seed=11, chunk_trials=1 << 14).to_dict()
    mc_table = simulate(design, table, 40_000, seed=11).to_dict()
    if name == "halpc+other":
        # Bleeds counted apart from the other DLTs make more paths (a cohort's outcome is its
        # DLTs and its bleeds), so the engine draws each trial from a finer distribution of paths:
        # the same distribution of what the table model counts, other trials for the seed.
        like = _table_like(mc_model)
        for key in ("p_select", "mean_n", "mean_dlt"):
            diff = np.abs(np.subtract(like[key], mc_table[key]))
            se = np.hypot(like[f"se_{key}"], mc_table[f"se_{key}"])
            assert np.all(diff <= 4 * se), key
    else:
        assert _table_like(mc_model) == mc_table
    assert exact(design, p).to_dict() == exact(design, table.p).to_dict()
    if name == "halpc":  # the only mechanism: every DLT is a bleed
        assert mc_model["events"][EVENT]["mean_per_dose"] == mc_model["mean_dlt"]
    if name == "halpc+other":  # bleeds are a part of the DLTs
        ev = np.array(mc_model["events"][EVENT]["mean_per_dose"])
        assert np.all(ev <= np.array(mc_model["mean_dlt"])) and ev.sum() < mc_model["mean_total_dlt"]


# --- heterogeneous exchangeable patients: the exact engine on population averages ---------------


def _heterogeneous_models():
    pop = Population()
    terms = (
        CovariateTerm("meld_na", 0.15, 27.0),
        CovariateTerm("platelets", -0.6, math.log(132.0), log=True),
        CovariateTerm("aclf_grade", 0.4),
    )
    return {
        "logistic": MechanismModel(DOSES, (LogisticRisk("DLT", -2.0, 1.0, PER_KG, terms),), population=pop),
        "halpc": halpc_bleeding_model(
            DOSES, Regimen(2, 7.0), parameters=(-3.0, 1.6, 1.2), population=pop, other=other_dlt(0.02)
        ),
    }


def test_population_average_matches_quadrature():
    """The quasi-Monte Carlo population average of the HALPC model equals a 1-D integral over the
    coagulation score, which is standard normal in the population."""
    model = _heterogeneous_models()["halpc"]
    x = np.log(DOSES.values / 1e6)
    other = special.expit(special.logit(0.02) + x)

    def p_dlt(s: float, d: int) -> float:
        first = special.expit(-3.0 + 1.6 * x[d] + 1.2 * s)
        second = special.expit(-3.0 + 1.6 * (x[d] + math.log(1.25)) + 1.2 * s)
        return 1 - (1 - first) * (1 - second) * (1 - other[d]) ** 2

    expected = [integrate.quad(lambda s, d=d: p_dlt(s, d) * stats.norm.pdf(s), -10, 10)[0] for d in range(5)]
    np.testing.assert_allclose(model.mean_probabilities(), expected, rtol=2e-4, atol=1e-6)


@pytest.mark.parametrize("name", ["logistic", "halpc"])
def test_heterogeneous_patients_agree_with_exact_engine_on_averages(name):
    model = _heterogeneous_models()[name]
    design = ThreePlusThree(5)
    n = 100_000
    mc = simulate(design, model, n, seed=2024)
    ex = exact(design, model.mean_probabilities())
    failures = []

    def check(label, estimate, expected, se):
        if abs(estimate - expected) > Z * se:
            failures.append(f"{label}: {estimate:.5f} vs {expected:.5f} (SE {se:.2g})")

    for d in range(5):
        p = ex.p_select[d]
        check(f"p_select[{d}]", mc.p_select[d], p, math.sqrt(p * (1 - p) / n))
        check(f"mean_n[{d}]", mc.mean_n[d], ex.mean_n[d], ex.sd_n[d] / math.sqrt(n))
        check(f"mean_dlt[{d}]", mc.mean_dlt[d], ex.mean_dlt[d], ex.sd_dlt[d] / math.sqrt(n))
    check("p_none", mc.p_none, ex.p_none, math.sqrt(ex.p_none * (1 - ex.p_none) / n))
    check("mean_total_n", mc.mean_total_n, ex.mean_total_n, ex.sd_total_n / math.sqrt(n))
    if name == "halpc":
        # Whether a patient is treated at d does not depend on their own outcome, so
        # E[bleeds at d] = P(bleed | d) x E[patients at d].
        ev = mc.events[EVENT]
        p_bleed = model.average_probabilities[1]
        for d in range(5):
            check(f"bleeds[{d}]", ev.mean[d], p_bleed[d] * ex.mean_n[d], ev.sd[d] / math.sqrt(n))
    assert not failures, "\n".join(failures)


def test_results_do_not_depend_on_chunking():
    model = _heterogeneous_models()["halpc"]
    design = ThreePlusThree(5)
    a = simulate(design, model, 40_000, seed=5, chunk_trials=1 << 14).to_dict()
    b = simulate(design, model, 40_000, seed=5, chunk_trials=1 << 16).to_dict()
    assert a == b


# --- parameters drawn per trial -----------------------------------------------------------------


def test_posterior_pick_and_quantiles():
    draws = np.array([[0.0, 1.0, 2.0, 3.0]])
    post = Posterior(("x",), draws, np.array([1.0, 0.0, 3.0, 0.0]), np.zeros(4), 0.0)
    np.testing.assert_allclose(post.weights, [0.25, 0, 0.75, 0])
    picked = post.pick_index(np.array([0.0, 0.2, 0.25, 0.5, 0.999999]))
    np.testing.assert_array_equal(post.draws[0, picked], [0.0, 0.0, 2.0, 2.0, 2.0])
    assert post.ess == pytest.approx(1 / (0.25**2 + 0.75**2))
    even = Posterior(("x",), np.arange(101.0)[None, :], np.ones(101), np.zeros(101), 0.0)
    np.testing.assert_allclose(even.quantiles(even.draws, [0.05, 0.5, 0.95])[:, 0], [4.55, 50.0, 95.45])
    assert even.mean(even.draws)[0] == pytest.approx(50.0)


def test_per_trial_parameters_give_the_posterior_mixture_of_exact_results():
    """With a posterior of four draws, each simulated trial runs under one draw: the operating
    characteristics are the weighted mixture of the exact ones under each draw."""
    draws = np.array([[-4.0, -3.0, -2.5, -3.5], [2.5, 1.5, 1.0, 2.0]])
    weights = np.array([0.1, 0.4, 0.3, 0.2])
    post = Posterior(("intercept", "slope"), draws, weights, np.zeros(4), 0.0)
    risk = LogisticRisk("DLT", -3.0, 1.5, PER_KG, posterior=post)
    model = MechanismModel(DOSES, (risk,), Regimen(2, 7.0))
    assert not model.independent_patients
    design = ThreePlusThree(5)
    per_draw = [
        exact(
            design,
            MechanismModel(DOSES, (LogisticRisk("DLT", a, b, PER_KG),), Regimen(2, 7.0)).mean_probabilities(),
        )
        for a, b in draws.T
    ]
    n = 100_000
    mc = simulate(design, model, n, seed=99)
    p_select = sum(w * oc.p_select for w, oc in zip(weights, per_draw, strict=True))
    mean_n = sum(w * oc.mean_n for w, oc in zip(weights, per_draw, strict=True))
    var_n = sum(w * (oc.sd_n**2 + oc.mean_n**2) for w, oc in zip(weights, per_draw, strict=True)) - mean_n**2
    assert np.all(np.abs(mc.p_select - p_select) <= Z * np.sqrt(p_select * (1 - p_select) / n))
    assert np.all(np.abs(mc.mean_n - mean_n) <= Z * np.sqrt(var_n / n))
    # The reported p_tox is each patient's marginal risk: the posterior mean of the draws' risks.
    marginal = sum(w * oc.p_tox for w, oc in zip(weights, per_draw, strict=True))
    np.testing.assert_allclose(model.mean_probabilities(), marginal, rtol=1e-12)
