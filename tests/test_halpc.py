"""The HALPC bleeding model: calibration to the sentinel findings, the posterior machinery, and the
model handed to the engines.

Tolerances are stated where they are used; the calibration and every simulation use fixed seeds.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from doseesc.designs import ThreePlusThree
from doseesc.engines import simulate
from doseesc.models.halpc import (
    COHORTS,
    EVENT,
    PARAMETERS,
    PRIORS,
    SENTINEL,
    TABLE_DOSES,
    BleedingRecord,
    calibrate_halpc,
    fit_bleeding,
    format_calibration,
    halpc_bleeding_model,
    record_log_likelihood,
)
from doseesc.models.mechanisms import Regimen
from doseesc.models.units import DoseLevels
from doseesc.plots.calibration import plot_calibration
from doseesc.population import Population
from doseesc.streams import TrialStreams

DOSES = DoseLevels.parse("0.3,0.6,1.2,2.5,5", "1e6cells/kg")
I_06, I_12, I_5 = TABLE_DOSES.index(0.6e6), TABLE_DOSES.index(1.2e6), TABLE_DOSES.index(5e6)


@pytest.fixture(scope="module")
def calibrations():
    return {name: calibrate_halpc(name) for name in PRIORS}


# --- calibration sanity -------------------------------------------------------------------------


def test_calibration_reports_risks_and_predictive_probabilities(calibrations):
    for cal in calibrations.values():
        for summary in (cal.typical, cal.population):
            assert np.all(summary.lower <= summary.median) and np.all(summary.median <= summary.upper)
            assert np.all(np.diff(summary.median) > 0)  # risk rises with dose
            assert np.all((summary.lower > 0) & (summary.upper < 1))
        # 2 of 2 bled at 5e6 cells/kg: high risk there; none of 21 at 0.6-1.2e6: low risk at 0.6.
        assert cal.population.median[I_5] > 0.3 and cal.population.lower[I_5] > 0.05
        assert cal.population.median[I_06] < 0.02 and cal.population.upper[I_06] < 0.1
        pred = cal.predictive
        assert 0 < pred["observed_pattern"] < min(pred["sentinel"], pred["amended"]) < 1
        # Updating on the data makes them more probable than they were a priori.
        assert pred["observed_pattern"] > math.exp(cal.posterior.log_evidence)
        assert cal.posterior.ess > 1000


def test_sceptical_prior_gives_higher_risk_at_the_amended_doses(calibrations):
    weak, sceptical = calibrations["weakly-informative"], calibrations["sceptical"]
    low = slice(0, I_5)  # 0.3 to 2.5e6 cells/kg
    for who in ("typical", "population"):
        w, s = getattr(weak, who), getattr(sceptical, who)
        assert np.all(s.median[low] > w.median[low])
        assert np.all(s.upper[low] > w.upper[low])
        assert np.all(s.lower > w.lower)
        # Wider on the probability scale where the sceptic doubts (0.3-1.2e6 cells/kg).
        assert np.all((s.upper - s.lower)[: I_12 + 1] > (w.upper - w.lower)[: I_12 + 1])
    # The prior sceptical of safety makes the clean amended-protocol data less expected.
    assert sceptical.predictive["amended"] < weak.predictive["amended"]


def test_cohort_assumption_sensitivity():
    """Fewer infusions at the lower dose without a bleed are weaker evidence of safety: the risk
    at 1.2e6 cells/kg is ordered least-exposure > fig2 > most-exposure, and the default lies
    between the bounds at every dose."""
    cals = {name: calibrate_halpc("weakly-informative", name) for name in COHORTS}
    med = {name: c.population.median for name, c in cals.items()}
    assert med["least-exposure"][I_12] > med["fig2"][I_12] > med["most-exposure"][I_12]
    assert np.all(med["most-exposure"][:I_5] <= med["fig2"][:I_5])
    assert np.all(med["fig2"][:I_5] <= med["least-exposure"][:I_5])
    assert sum(r.patients for r in COHORTS["fig2"]) == 21
    assert all(sum(r.patients for r in recs) == 21 for recs in COHORTS.values())


def test_calibration_is_deterministic_and_cached():
    assert calibrate_halpc("sceptical") is calibrate_halpc("sceptical")
    fresh = calibrate_halpc.__wrapped__("sceptical")
    np.testing.assert_array_equal(fresh.population.median, calibrate_halpc("sceptical").population.median)


def test_importance_sampling_matches_a_grid_posterior(calibrations):
    """Independent check of the sampler: the posterior on a fine grid over (intercept, ln slope,
    ln coagulation effect).  Means and SDs of the working-scale parameters agree within 0.1
    posterior SD (importance-sampling error ~ SD / sqrt(ESS) ~ 0.02 SD; grid error smaller)."""
    cal = calibrations["weakly-informative"]
    prior = cal.prior
    axes = [np.linspace(-14, 2, 81), np.linspace(-3, 3, 61), np.linspace(-2.2, 2.0, 43)]
    grid = np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")])
    log_post = record_log_likelihood(cal.records, prior.to_natural(grid)).sum(axis=0) + prior.logpdf(grid)
    w = np.exp(log_post - log_post.max())
    w /= w.sum()
    working = prior.to_working(cal.posterior.draws)
    for i, name in enumerate(PARAMETERS):
        grid_mean = grid[i] @ w
        grid_sd = math.sqrt(((grid[i] - grid_mean) ** 2) @ w)
        is_mean = cal.posterior.mean(working[i])
        is_sd = math.sqrt(cal.posterior.mean((working[i] - is_mean) ** 2))
        assert abs(is_mean - grid_mean) < 0.1 * grid_sd, name
        assert abs(is_sd - grid_sd) < 0.1 * grid_sd, name


def test_sentinel_likelihood_by_hand():
    """Patient 2 bled after the 2nd infusion, patient 3 after the 1st: with no coagulation effect,
    the likelihood is (1 - p(5e6)) p(1.25 x 5e6) p(5e6) (second infusion's load: 1 + 2^(-7/3.5))."""
    a, b = -1.0, 2.0
    p = lambda d: special.expit(a + b * math.log(d / 1e6))  # noqa: E731
    expected = math.log((1 - p(5e6)) * p(6.25e6)) + math.log(p(5e6))
    got = record_log_likelihood(SENTINEL, np.array([[a], [b], [0.0]])).sum()
    assert got == pytest.approx(expected, rel=1e-12)
    none = BleedingRecord("x", 3, 1e6, 2, None)
    got = record_log_likelihood([none], np.array([[a], [b], [0.0]]))[0, 0]
    assert got == pytest.approx(3 * math.log((1 - p(1e6)) * (1 - p(1.25e6))), rel=1e-12)
    with pytest.raises(ValueError, match="bled_at"):
        BleedingRecord("y", 1, 1e6, 1, 2)


# --- parameter recovery -------------------------------------------------------------------------

TRUTH = np.array([-2.0, 2.0, 0.7])  # intercept, slope, coagulation effect


def _large_trial(seed: int, n_per_arm: int = 40) -> list[BleedingRecord]:
    """A trial with observed coagulation scores: n_per_arm patients at each of 5 doses x 1 or 2
    infusions, outcomes simulated from TRUTH with the model's own definition written out."""
    rng = np.random.default_rng(seed)
    n = n_per_arm * 10
    scores = Population().draw(TrialStreams([np.random.SeedSequence(seed)], [1]), n, ("coagulation_score",))
    scores = scores["coagulation_score"][:, 0]
    records = []
    for i in range(n):
        dose, infusions = TABLE_DOSES[i % 5], 1 + (i // 5) % 2
        bled = None
        for k, load in enumerate((1.0, 1.25)[:infusions]):
            p = special.expit(TRUTH[0] + TRUTH[1] * math.log(dose * load / 1e6) + TRUTH[2] * scores[i])
            if rng.random() < p:
                bled = k + 1
                break
        records.append(BleedingRecord(f"patient {i}", 1, dose, infusions, bled, score=float(scores[i])))
    return records


def test_parameter_recovery_with_credible_interval_coverage():
    """20 trials of 400 patients simulated from known parameters and fitted back.  Each
    parameter's 90% interval must cover the truth in at least 14 of 20 fits (P(Bin(20, 0.9) <= 13)
    = 0.0024), and the standardized errors (posterior mean - truth) / posterior SD must behave like
    standard normals: their sum of squares over the 20 fits within the central 99.8% of chi2(20),
    which fails for intervals both too narrow and too wide."""
    fits = 20
    covered = np.zeros(3, dtype=int)
    z2 = np.zeros(3)
    prior = PRIORS["weakly-informative"]
    for r in range(fits):
        post = fit_bleeding(_large_trial(1000 + r), prior, log2_draws=11)
        summary = post.summary(0.9)
        for i, name in enumerate(PARAMETERS):
            covered[i] += summary[name]["lower"] <= TRUTH[i] <= summary[name]["upper"]
            mean = post.mean(post.draws[i])
            sd = math.sqrt(post.mean((post.draws[i] - mean) ** 2))
            z2[i] += ((mean - TRUTH[i]) / sd) ** 2
        assert post.ess > 500
    assert np.all(covered >= 14), covered
    lo, hi = stats.chi2.ppf([0.001, 0.999], fits)
    assert np.all((z2 > lo) & (z2 < hi)), z2


# --- the model for the engines ------------------------------------------------------------------


def test_posterior_model_draws_parameters_per_trial(calibrations):
    cal = calibrations["weakly-informative"]
    model = halpc_bleeding_model(DOSES, Regimen(2, 7.0), posterior=True)
    assert not model.independent_patients and model.events == (EVENT,)
    n = 1 << 15
    kinds = model.draw_trials(TrialStreams([np.random.SeedSequence(8)], [n]))
    post = cal.posterior
    assert kinds.shape == (n,) and model.probability_table.shape == (post.weights.shape[0], 2, 5)
    params = post.draws[:, kinds]
    for i in range(3):  # picked draws: their mean within 4 SE of the posterior mean
        mean = post.mean(post.draws[i])
        sd = math.sqrt(post.mean((post.draws[i] - mean) ** 2))
        assert abs(params[i].mean() - mean) < 4 * sd / math.sqrt(n)
    fixed = halpc_bleeding_model(DOSES, Regimen(2, 7.0))
    assert fixed.independent_patients
    np.testing.assert_allclose(fixed.mechanisms[0].parameters(), cal.point)


def test_posterior_mean_probabilities_are_the_marginal_risk(calibrations):
    """Each posterior draw's row of the model's table is the population-averaged P(DLT) under that
    draw: against a 60-node Gauss-Hermite rule over the score where the score's effect is moderate,
    and against adaptive quadrature (split at the steps) for the draws with the steepest effects;
    mean_probabilities is their posterior mean."""
    post = calibrations["weakly-informative"].posterior
    model = halpc_bleeding_model(DOSES, Regimen(2, 7.0), posterior=True)
    table = model.probability_table[:, 0]
    x = np.log(DOSES.values / 1e6)

    def risk(z, a, b, g, xd):
        first = special.expit(a + b * xd + g * z)
        return 1 - (1 - first) * (1 - special.expit(a + b * (xd + math.log(1.25)) + g * z))

    nodes, weights = np.polynomial.hermite_e.hermegauss(60)
    weights = weights / weights.sum()
    moderate = post.draws[2] < 2.0
    a, b, g = (row[moderate, None, None] for row in post.draws)
    per_draw = risk(nodes, a, b, g, x[None, :, None]) @ weights
    np.testing.assert_allclose(table[moderate], per_draw, rtol=1e-8, atol=1e-14)
    for k in np.argsort(post.draws[2])[-5:]:
        a, b, g = post.draws[:, k]
        for d, xd in enumerate(x):
            steps = sorted({-(a + b * xd) / g, -(a + b * (xd + math.log(1.25))) / g})
            steps = [s for s in steps if -12 < s < 12]
            expected = integrate.quad(
                lambda z, a=a, b=b, g=g, xd=xd: (
                    risk(z, a, b, g, xd) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
                ),
                -12,
                12,
                points=steps or None,
                limit=200,
                epsabs=1e-12,
            )[0]
            assert table[k, d] == pytest.approx(expected, rel=1e-6, abs=1e-12), (g, d)
    np.testing.assert_allclose(model.mean_probabilities(), post.weights @ table, rtol=1e-12)
    np.testing.assert_allclose(model.average_probabilities[1], model.mean_probabilities())


def test_three_plus_three_under_the_posterior_counts_bleeds():
    design = ThreePlusThree(5)
    model = halpc_bleeding_model(DOSES, Regimen(2, 7.0), posterior=True)
    oc = simulate(design, model, 20_000, seed=3)
    bleeds = oc.events[EVENT]
    assert bleeds.mean_total == pytest.approx(oc.mean_total_dlt)  # bleeding is the only mechanism
    assert np.all(bleeds.mean > 0)
    assert oc.p_tox.tolist() == model.mean_probabilities().tolist()


def test_model_arguments_are_checked():
    with pytest.raises(ValueError, match="parameters: fixed parameters and posterior"):
        halpc_bleeding_model(DOSES, posterior=True, parameters=(-3.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="prior: unknown prior 'flat'"):
        calibrate_halpc("flat")
    with pytest.raises(ValueError, match="cohorts: unknown assumption"):
        calibrate_halpc("weakly-informative", "all")


# --- output -------------------------------------------------------------------------------------


def test_to_dict_is_json_and_the_table_prints_both_priors(calibrations):
    cals = list(calibrations.values())
    data = json.loads(json.dumps([c.to_dict() for c in cals], allow_nan=False))
    first = data[0]
    assert first["doses"] == list(TABLE_DOSES) and first["dose_unit"] == "cells/kg"
    assert set(first["per_infusion_risk"]) == {"typical", "population"}
    assert (
        set(first["posterior_predictive"])
        == set(first["posterior_predictive_definitions"])
        == {
            "observed_pattern",
            "per_patient",
            "sentinel",
            "sentinel_per_patient",
            "amended",
        }
    )
    assert first["sentinel_dose"] == "per_infusion"
    assert set(first["parameters"]) == set(PARAMETERS)
    assert len(first["data"]) == 6
    text = format_calibration(cals)
    for name in PRIORS:
        assert f"Prior {name}:" in text
    assert text.count("Posterior predictive P(observed pattern)") == 2
    assert text.count("Posterior predictive P(each patient bled or not, as observed)") == 2
    for d in ("0.3", "0.6", "1.2", "2.5", "5"):
        assert any(line.split()[:1] == [d] for line in text.splitlines())


def test_plot_has_units_and_bands(calibrations, tmp_path):
    fig = plot_calibration(list(calibrations.values()))
    ax = fig.axes[0]
    assert "cells/kg" in ax.get_xlabel() and "per infusion" in ax.get_ylabel()
    assert len(ax.collections) == 2  # one credible band per prior
    path = tmp_path / "calibration.png"
    fig.savefig(path)
    assert path.stat().st_size > 10_000
