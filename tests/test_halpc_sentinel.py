"""Issue 15: the HALPC sentinel as planned (absolute cells), the two readings of its dose, and the
per-patient posterior predictive probability.

The calibration is checked against a posterior computed here from scratch on a dense grid (its own
likelihood, its own quadrature over the coagulation score); the absolute-cells model against a
closed-form weight distribution and a product Gauss-Hermite rule written here.  Tolerances are
derived where they are used.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

from doseesc.build import HalpcSpec, calibration_band
from doseesc.cli import main
from doseesc.models.halpc import (
    PREDICTIVE,
    PRIORS,
    bleeding_posterior,
    calibrate_halpc,
    halpc_bleeding_model,
    record_log_likelihood,
)
from doseesc.models.halpc_readings import compare_readings, format_readings
from doseesc.models.halpc_records import COHORTS, SENTINEL_READINGS, BleedingRecord, sentinel_records
from doseesc.models.mechanisms import Regimen
from doseesc.models.units import DoseLevels, convert_dose
from doseesc.population import Population
from doseesc.running import run_scenario
from doseesc.scenario import _HALPC_SENTINEL_DOSES, load
from doseesc.streams import TrialStreams

ROOT = Path(__file__).resolve().parents[1]
SOURCES = (ROOT / "docs" / "sources.md").read_text().replace("\N{MULTIPLICATION SIGN}", "x")
SECOND_LOAD = 1 + 2.0 ** (-7.0 / 3.5)  # the 2nd infusion's load, 7 days after the 1st, half-life 3.5 days

# Body weight (kg) of the population: log-normal with mean 75 and SD 15 (doseesc.population,
# assumption), untruncated under HALPC eligibility, so ln W ~ N(MU_W, SIGMA_W) by moment matching.
SIGMA_W = math.sqrt(math.log1p((15.0 / 75.0) ** 2))
MU_W = math.log(75.0) - SIGMA_W**2 / 2


# --- the records against the paper (facts in docs/sources.md) -------------------------------------


def test_the_sentinel_records_are_the_papers():
    """docs/sources.md: patients 2 and 3 received ~5e6 cells/kg; one bled after the second infusion,
    the other after one infusion.  Under per_patient only the two-infusion patient's dose changes."""
    assert "after the second infusion" in SOURCES and "after one infusion" in SOURCES
    assert "approximately 5x10^6 cells/kg BW" in SOURCES
    by_reading = {r: sentinel_records(r) for r in SENTINEL_READINGS}
    for reading, (two, one) in by_reading.items():
        assert (two.patients, two.infusions, two.bled_at) == (1, 2, 2)
        assert (one.patients, one.infusions, one.bled_at, one.dose) == (1, 1, 1, 5e6)
        assert two.dose * (two.infusions if reading == "per_patient" else 1) == 5e6
    assert by_reading["per_patient"][0].dose == 2.5e6
    assert set(SENTINEL_READINGS) == set(_HALPC_SENTINEL_DOSES)
    with pytest.raises(ValueError, match="sentinel_dose: unknown reading 'total'"):
        sentinel_records("total")


def test_the_cohort_regimens_are_the_papers():
    """docs/sources.md: Cohorts 2 to 5 of 6, 3, 4 and 8 patients, Cohort 2 one infusion of 0.6e6
    cells/kg (stated); the others at 0.6 or 1.2e6 cells/kg, 1 or 2 infusions."""
    assert "Cohorts 2 to 5, of 6, 3, 4 and 8 patients" in SOURCES
    fig2 = COHORTS["fig2"]
    assert [r.patients for r in fig2] == [6, 3, 4, 8]
    assert (fig2[0].dose, fig2[0].infusions) == (0.6e6, 1)
    assert [(r.dose, r.infusions) for r in fig2[1:]] == [(0.6e6, 2), (1.2e6, 1), (1.2e6, 2)]
    for records in COHORTS.values():
        assert sum(r.patients for r in records) == 21
        assert all(r.bled_at is None and r.dose in (0.6e6, 1.2e6) and r.infusions in (1, 2) for r in records)


def test_the_scenario_files_dose_the_plan_as_written_and_per_kg():
    """docs/sources.md: "four infusions of 250x10^6 cells/dose", not per kg."""
    assert "four infusions of 250x10^6 cells/dose" in SOURCES
    planned = load(ROOT / "scenarios" / "halpc_sentinel.toml")
    levels = planned.doses.dose_levels()
    assert (levels.unit, levels.values.tolist(), planned.regimen.infusions) == ("cells", [250e6], 4)
    assert planned.toxicity.sentinel_dose == "per_infusion"
    per_kg = load(ROOT / "scenarios" / "halpc_sentinel_per_kg.toml")
    levels = per_kg.doses.dose_levels()
    assert (levels.unit, levels.values.tolist(), per_kg.regimen.infusions) == ("cells/kg", [5e6], 4)
    per_patient = load(ROOT / "scenarios" / "halpc_sentinel_per_patient.toml")
    assert per_patient.toxicity.sentinel_dose == "per_patient"
    assert (per_patient.doses, per_patient.regimen) == (planned.doses, planned.regimen)


# --- the two readings against a grid posterior ------------------------------------------------------


def _grid_posterior(sentinel_dose: str, prior: str = "weakly-informative"):
    """Posterior weights on an 81 x 61 x 43 grid over (intercept, ln slope, ln coagulation effect),
    with the log-likelihood of the data as recorded and of "who bled" only, written out here: each
    patient's probability is averaged over the standard normal score with a 40-node Gauss-Hermite
    rule; the second infusion acts with 1.25 x its dose."""
    axes = [np.linspace(-14, 2, 81), np.linspace(-3, 3, 61), np.linspace(-2.2, 2.0, 43)]
    theta = np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")])
    a, b, g = theta[0][:, None], np.exp(theta[1])[:, None], np.exp(theta[2])[:, None]
    z, zw = np.polynomial.hermite_e.hermegauss(40)
    zw = zw / zw.sum()

    def p(dose: float) -> np.ndarray:
        return special.expit(a + b * math.log(dose / 1e6) + g * z)

    d2 = 2.5e6 if sentinel_dose == "per_patient" else 5e6
    first, second = p(d2), p(d2 * SECOND_LOAD)
    p3 = p(5e6) @ zw
    amended = 0.0
    for n, dose, infusions in ((6, 0.6e6, 1), (3, 0.6e6, 2), (4, 1.2e6, 1), (8, 1.2e6, 2)):
        none = 1 - p(dose)
        if infusions == 2:
            none = none * (1 - p(dose * SECOND_LOAD))
        amended = amended + n * np.log(none @ zw)
    exact = np.log(((1 - first) * second) @ zw) + np.log(p3) + amended
    coarse = np.log((1 - (1 - first) * (1 - second)) @ zw) + np.log(p3) + amended
    pr = PRIORS[prior]
    log_prior = -0.5 * (((theta - np.array(pr.mean)[:, None]) / np.array(pr.sd)[:, None]) ** 2).sum(axis=0)
    w = np.exp(exact + log_prior - (exact + log_prior).max())
    return theta, w / w.sum(), exact, coarse


@pytest.fixture(scope="module")
def grids():
    return {r: _grid_posterior(r) for r in SENTINEL_READINGS}


def _is_se(posterior, values: np.ndarray) -> float:
    """Standard error of a self-normalised importance-sampling mean (delta method)."""
    w = posterior.weights
    return math.sqrt(np.sum(w**2 * (values - w @ values) ** 2))


def test_the_per_patient_reading_moves_the_5e6_median_up_as_the_grid_posterior_does(grids):
    """The typical patient's per-infusion risk at 5e6 cells/kg: the calibration's posterior median
    must sit at the grid posterior's 50th percentile, within 4 importance-sampling SEs of a quantile's
    level (0.5 / sqrt(ESS) ~ 0.01) plus the grid's discretisation of the CDF (0.015: a grid of half
    the density moves it by 0.014).  Both readings; the per_patient median is far higher."""
    medians = {}
    for reading, (theta, w, _, _) in grids.items():
        cal = calibrate_halpc("weakly-informative", "fig2", reading)
        median = cal.typical.median[-1]
        risk = special.expit(theta[0] + np.exp(theta[1]) * math.log(5.0))
        post = cal.posterior
        is_risk = special.expit(post.draws[0] + post.draws[1] * math.log(5.0))
        se = _is_se(post, (is_risk <= median).astype(float))
        assert abs(w[risk <= median].sum() - 0.5) < 4 * se + 0.015, reading
        medians[reading] = median
    # 41% and 74% (issue 15): the per_patient median lies where the per_infusion grid posterior puts
    # 90% of its mass below.
    theta, w, _, _ = grids["per_infusion"]
    risk = special.expit(theta[0] + np.exp(theta[1]) * math.log(5.0))
    assert w[risk <= medians["per_patient"]].sum() > 0.75
    assert medians["per_patient"] > medians["per_infusion"] + 0.2


def test_the_posterior_predictive_probabilities_match_the_grid(grids):
    """observed_pattern (which infusion each bleed followed) and per_patient (who bled) against the
    grid's posterior means of the same probabilities, within 4 importance-sampling SEs plus 0.1% of
    the value for the grid (a grid of half the density changes them by less than 1e-5)."""
    for reading, (_, w, exact, coarse) in grids.items():
        cal = calibrate_halpc("weakly-informative", "fig2", reading)
        post = cal.posterior
        for key, log_lik in (("observed_pattern", exact), ("per_patient", coarse)):
            truth = w @ np.exp(log_lik)
            timing = key == "observed_pattern"
            values = np.exp(record_log_likelihood(cal.records, post.draws, timing=timing).sum(axis=0))
            assert abs(cal.predictive[key] - truth) < 4 * _is_se(post, values) + 1e-3 * truth, (reading, key)
        pred = cal.predictive
        # Forgetting which infusion a bleed followed can only make the data more probable.
        assert pred["per_patient"] > pred["observed_pattern"]
        assert pred["sentinel_per_patient"] > pred["sentinel"]
        assert set(pred) == set(PREDICTIVE)


def test_per_patient_likelihood_by_hand():
    """Without the timing, patient 2's outcome is a bleed after either infusion:
    1 - (1 - p(d)) (1 - p(1.25 d)); with it, (1 - p(d)) p(1.25 d).  No coagulation effect."""
    a, b = -1.0, 2.0
    p = lambda d: special.expit(a + b * math.log(d / 1e6))  # noqa: E731
    params = np.array([[a], [b], [0.0]])
    two, three = sentinel_records("per_patient")
    exact = record_log_likelihood([two, three], params)[:, 0]
    coarse = record_log_likelihood([two, three], params, timing=False)[:, 0]
    d = 2.5e6
    assert exact[0] == pytest.approx(math.log((1 - p(d)) * p(SECOND_LOAD * d)), rel=1e-12)
    assert coarse[0] == pytest.approx(math.log(1 - (1 - p(d)) * (1 - p(SECOND_LOAD * d))), rel=1e-12)
    assert exact[1] == coarse[1] == pytest.approx(math.log(p(5e6)), rel=1e-12)
    none = BleedingRecord("x", 3, 1e6, 2, None)
    both = [record_log_likelihood([none], params, timing=t)[0, 0] for t in (True, False)]
    assert both[0] == both[1]


def test_each_reading_has_its_own_cached_posterior(monkeypatch, tmp_path):
    monkeypatch.setenv("DOSEESC_CACHE_DIR", str(tmp_path))
    fits = {r: bleeding_posterior.__wrapped__("sceptical", "fig2", r) for r in SENTINEL_READINGS}
    assert len(list(tmp_path.glob("halpc-posterior-*.npz"))) == 2
    assert not np.array_equal(fits["per_infusion"].weights, fits["per_patient"].weights)
    again = bleeding_posterior.__wrapped__("sceptical", "fig2", "per_patient")
    np.testing.assert_array_equal(again.draws, fits["per_patient"].draws)
    np.testing.assert_array_equal(again.weights, fits["per_patient"].weights)


# --- absolute cells ---------------------------------------------------------------------------------


def test_per_kg_doses_follow_the_weight_distribution():
    """A patient of W kg given 250e6 cells receives 250e6 / W cells/kg: log-normal with log-mean
    ln 250e6 - MU_W and log-SD SIGMA_W.  Weights drawn as the engines draw them; Kolmogorov-Smirnov
    distance below its 99.9% critical value 1.95 / sqrt(n)."""
    n = 20_000
    streams = TrialStreams([np.random.SeedSequence(15)], [1])
    weight = Population().draw(streams, n, ("weight",))["weight"][:, 0]
    per_kg = convert_dose(np.full(n, 250e6), "cells", "cells/kg", "doses", weight)
    law = stats.lognorm(s=SIGMA_W, scale=250e6 * math.exp(-MU_W))
    assert stats.kstest(per_kg, law.cdf).statistic < 1.95 / math.sqrt(n)
    assert law.median() == pytest.approx(3.40e6, rel=1e-3)  # the figure the scenario file quotes


def _regimen_risk_over_weight(a, b, g, cells: float, infusions: int) -> np.ndarray:
    """P(bleed over ``infusions`` of ``cells``) averaged over weight and score (40 x 40-node product
    Gauss-Hermite rule); ``a``, ``b``, ``g`` broadcast against (weight node, score node)."""
    z, zw = np.polynomial.hermite_e.hermegauss(40)
    zw = zw / zw.sum()
    per_kg = (cells / np.exp(MU_W + SIGMA_W * z))[:, None]
    survive, load = 1.0, 0.0
    for _ in range(infusions):
        load = load * 2.0 ** (-7.0 / 3.5) + 1.0
        survive = survive * (1 - special.expit(a + b * np.log(per_kg * load / 1e6) + g * z[None, :]))
    return np.einsum("...ws,w,s->...", 1 - survive, zw, zw)


def test_absolute_cells_average_over_the_weight_distribution():
    """Fixed parameters: the model's population average (scrambled Sobol, 2^14 points, error of
    order 1 / 2^14 = 6e-5 for this smooth integrand) against the product Gauss-Hermite rule."""
    doses = DoseLevels.parse("100,250", "1e6cells")
    model = halpc_bleeding_model(doses, Regimen(4, 7.0), parameters=(-4.0, 2.0, 1.0))
    expected = [_regimen_risk_over_weight(-4.0, 2.0, 1.0, c, 4) for c in (100e6, 250e6)]
    np.testing.assert_allclose(model.probability_table[0, 0], expected, atol=3e-4)


def test_the_absolute_cells_scenario_runs_with_its_calibration_band():
    """halpc_sentinel.toml (2,000 Monte Carlo trials): P(DLT) is the posterior mean of the
    weight- and score-averaged risk over the 4 infusions (the model averages each draw over 2^10
    Sobol points: error below 1e-3), and the calibration band is its posterior median and 90%
    interval (both quadratures converged: 1e-6)."""
    s = load(ROOT / "scenarios" / "halpc_sentinel.toml")
    s = replace(s, run=replace(s.run, engines=("mc",), trials=(("mc", 2000),)))
    result = run_scenario(s)
    post = bleeding_posterior()
    per_draw = _regimen_risk_over_weight(*(row[:, None, None] for row in post.draws), 250e6, 4)
    assert result.toxicity.p_dlt[0] == pytest.approx(post.weights @ per_draw, abs=1e-3)
    band, level = calibration_band(s.toxicity, s.doses, s.regimen)
    expected = post.quantiles(per_draw[None, :], [0.5, (1 - level) / 2, (1 + level) / 2])[:, 0]
    np.testing.assert_allclose([band.median[0], band.lower[0], band.upper[0]], expected, atol=1e-6)
    assert "sentinel dose per_infusion" in band.label
    oc = result.oc("mc")
    assert oc.p_select.sum() + oc.p_none == pytest.approx(1.0)


# --- the command line and the scenario key ----------------------------------------------------------


def test_the_sentinel_dose_key_reaches_the_model(tmp_path, capsys):
    text = (ROOT / "scenarios" / "halpc_sentinel_per_patient.toml").read_text()
    s = load(ROOT / "scenarios" / "halpc_sentinel_per_patient.toml")
    assert s.toxicity == HalpcSpec(posterior=True, sentinel_dose="per_patient")
    _, model = s.build("mc")
    assert model.mechanisms[0].posterior is bleeding_posterior("weakly-informative", "fig2", "per_patient")
    bad = tmp_path / "bad.toml"
    bad.write_text(re.sub(r'sentinel_dose = "per_patient"', 'sentinel_dose = "total"', text))
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "toxicity.sentinel_dose" in err and "per_infusion, per_patient" in err


def test_calibrate_compares_the_readings(capsys):
    assert main(["calibrate", "halpc", "--compare-readings"]) == 0
    text = capsys.readouterr().out
    header = next(line for line in text.splitlines() if line.startswith("|  |"))
    assert header.count("per_infusion") == header.count("per_patient") == len(PRIORS)
    assert (
        "| posterior predictive: per_patient |" in text
        and "| posterior predictive: observed_pattern |" in text
    )
    row = next(line for line in text.splitlines() if "at 5e6 cells/kg, typical patient" in line)
    cals = compare_readings()
    assert format_readings(cals) == text.rstrip("\n")
    assert f"{100 * cals[1].typical.median[-1]:.0f}%" in row  # the per_patient median, second column
    assert main(["calibrate", "halpc", "--compare-readings", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(d["prior"]["name"], d["sentinel_dose"]) for d in data] == [
        (p, r) for p in PRIORS for r in SENTINEL_READINGS
    ]
    assert all(set(d["posterior_predictive"]) == set(PREDICTIVE) for d in data)


def test_calibrate_takes_a_reading_and_refuses_two(capsys):
    assert main(["calibrate", "halpc", "--sentinel-dose", "per_patient", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {d["sentinel_dose"] for d in data} == {"per_patient"}
    assert data[0]["data"][0]["dose_cells_per_kg"] == 2.5e6
    refused = {
        "--sentinel-dose": ["--sentinel-dose", "total"],
        "not allowed with": ["--compare-readings", "--sentinel-dose", "per_patient"],
        "--plot": ["--compare-readings", "--plot", "x.png"],
    }
    for words, args in refused.items():
        with pytest.raises(SystemExit) as stop:
            main(["calibrate", "halpc", *args])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err
