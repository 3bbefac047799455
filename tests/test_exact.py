"""The exact engine against the independent Fraction oracle, on random scenarios."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import VARIANTS, central_moment, exact_oracle, moment

from doseesc.designs import ThreePlusThree
from doseesc.engines import exact

F = Fraction
TOL = 1e-12
# Variances are E[X^2] - E[X]^2 in floating point, with E[X^2] up to (6K)^2 ~ 1300: a few ulps of
# that is ~1e-13, so 1e-10 is a generous bound on rounding.  An SD is the square root of such a
# difference, so a zero variance may come out as an SD up to sqrt(1e-10) = 1e-5.
VAR_TOL = 1e-10

probability = st.one_of(
    st.sampled_from([F(0), F(1)]), st.fractions(min_value=0, max_value=1, max_denominator=20)
)
scenarios = st.lists(probability, min_size=1, max_size=6)


def check_sd(sd, var):
    assert math.isfinite(sd) and sd >= 0
    assert sd**2 == pytest.approx(float(var), abs=VAR_TOL)
    if var == 0:
        assert sd <= math.sqrt(VAR_TOL)


@pytest.mark.parametrize(("deescalate", "expand_top"), VARIANTS)
@settings(max_examples=60, deadline=None)
@given(p=scenarios)
def test_exact_engine_equals_oracle(p, deescalate, expand_top):
    oracle = exact_oracle(p, deescalate, expand_top)
    oc = exact(ThreePlusThree(len(p), deescalate, expand_top), [float(q) for q in p])
    k = len(p)

    assert oc.engine == "exact" and oc.n_trials is None
    assert oc.options == {"deescalate": deescalate, "expand_top": expand_top}
    np.testing.assert_array_equal(oc.p_tox, [float(q) for q in p])
    for name in ("p_select", "mean_n", "mean_dlt", "sd_n", "sd_dlt"):
        assert getattr(oc, name).shape == (k,)

    np.testing.assert_allclose(oc.p_select, [float(q) for q in oracle.p_select], rtol=0, atol=TOL)
    assert oc.p_none == pytest.approx(float(oracle.p_none), abs=TOL)
    np.testing.assert_allclose(oc.mean_n, [float(x) for x in oracle.mean_n], rtol=0, atol=TOL)
    np.testing.assert_allclose(oc.mean_dlt, [float(x) for x in oracle.mean_dlt], rtol=0, atol=TOL)
    assert oc.mean_total_n == pytest.approx(float(moment(oracle.total_n, 1)), abs=TOL)
    assert oc.mean_total_dlt == pytest.approx(float(moment(oracle.total_dlt, 1)), abs=TOL)

    # probabilities add up
    assert oracle.p_none + sum(oracle.p_select) == 1
    assert oc.p_none + oc.p_select.sum() == pytest.approx(1.0, abs=TOL)
    assert np.all(oc.p_select >= -TOL) and oc.p_none >= -TOL

    # distribution of the total sample size
    assert sum(oracle.total_n.values()) == 1
    assert oc.total_n_pmf.sum() == pytest.approx(1.0, abs=TOL)
    assert oc.total_n_pmf.shape[0] > max(oracle.total_n)
    expected = np.zeros_like(oc.total_n_pmf)
    for m, q in oracle.total_n.items():
        expected[m] = float(q)
    np.testing.assert_allclose(oc.total_n_pmf, expected, rtol=0, atol=TOL)
    # the pmf's mean is the mean total, and totals are whole cohorts
    assert oc.total_n_pmf @ np.arange(oc.total_n_pmf.shape[0]) == pytest.approx(oc.mean_total_n, abs=1e-9)
    assert np.all(oc.total_n_pmf[np.arange(oc.total_n_pmf.shape[0]) % 3 != 0] == 0)

    # second moments
    for d in range(k):
        check_sd(oc.sd_n[d], oracle.var_n[d])
        check_sd(oc.sd_dlt[d], oracle.var_dlt[d])
    check_sd(oc.sd_total_n, central_moment(oracle.total_n, 2))
    check_sd(oc.sd_total_dlt, central_moment(oracle.total_dlt, 2))

    # totals are sums over doses
    assert oc.mean_n.sum() == pytest.approx(oc.mean_total_n, abs=1e-9)
    assert oc.mean_dlt.sum() == pytest.approx(oc.mean_total_dlt, abs=1e-9)


@pytest.mark.parametrize(("deescalate", "expand_top"), VARIANTS)
def test_exact_engine_six_doses_reference_scenario(deescalate, expand_top):
    """The README's 6-dose scenario (the largest the property test draws, with non-dyadic p)."""
    p = ["0.05", "0.1", "0.2", "0.3", "0.5", "0.7"]
    oracle = exact_oracle(p, deescalate, expand_top)
    oc = exact(ThreePlusThree(6, deescalate, expand_top), [float(q) for q in p])
    np.testing.assert_allclose(oc.p_select, [float(q) for q in oracle.p_select], rtol=0, atol=TOL)
    assert oc.p_none == pytest.approx(float(oracle.p_none), abs=TOL)
    np.testing.assert_allclose(oc.mean_n, [float(x) for x in oracle.mean_n], rtol=0, atol=TOL)
    np.testing.assert_allclose(oc.mean_dlt, [float(x) for x in oracle.mean_dlt], rtol=0, atol=TOL)
    np.testing.assert_allclose(oc.sd_n**2, [float(v) for v in oracle.var_n], rtol=0, atol=VAR_TOL)
    np.testing.assert_allclose(oc.sd_dlt**2, [float(v) for v in oracle.var_dlt], rtol=0, atol=VAR_TOL)
    assert oc.sd_total_dlt**2 == pytest.approx(float(central_moment(oracle.total_dlt, 2)), abs=VAR_TOL)


def test_exact_result_has_no_standard_errors():
    oc = exact(ThreePlusThree(3), [0.1, 0.2, 0.3])
    assert oc.se_p_select is None and oc.se_p_none is None
    assert oc.se_mean_n is None and oc.se_mean_total_dlt is None
    d = oc.to_dict()
    assert "se_p_select" not in d and "n_trials" not in d
    assert d["p_select"] == oc.p_select.tolist()
    assert sum(d["total_n_distribution"].values()) == pytest.approx(1.0, abs=TOL)


@pytest.mark.parametrize(
    "p_tox",
    [[0.1, 1.5], [-0.01, 0.2], [0.1, float("nan")], [float("inf"), 0.2], [], [[0.1, 0.2]]],
    ids=["above-1", "negative", "nan", "inf", "empty", "2d"],
)
def test_exact_rejects_bad_probabilities(p_tox):
    with pytest.raises(ValueError, match="p_tox"):
        exact(ThreePlusThree(2), p_tox)


def test_exact_rejects_wrong_length():
    with pytest.raises(ValueError, match="p_tox"):
        exact(ThreePlusThree(3), [0.1, 0.2])
    with pytest.raises(ValueError, match="p_tox"):
        exact(ThreePlusThree(1), [0.1, 0.2])
