"""BOIN (Liu & Yuan 2015; the R package BOIN 2.7.x) against its published boundaries, R's final
selection on hand-checked cases, and exact operating characteristics of an independent scalar
implementation (``tests/boin_oracle.py``); the isotonic helper against SciPy's."""

from __future__ import annotations

import numpy as np
import pytest
from boin_oracle import Rules, operating, select_mtd
from boin_oracle import boundaries as oracle_boundaries
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import isotonic_regression

from doseesc.designs.boin import BOIN, lambda_d, lambda_e
from doseesc.designs.isotonic import pava, select_closest
from doseesc.engines import exact, simulate


def test_lambda_check_values():
    # The simFastBOIN vignette prints R's values for T = 0.3; Liu & Yuan (2015) tabulate 3 digits.
    assert lambda_e(0.3, 0.18) == pytest.approx(0.2364907, abs=1e-7)
    assert lambda_d(0.3, 0.42) == pytest.approx(0.3585195, abs=1e-7)
    assert lambda_e(0.25, 0.15) == pytest.approx(0.197, abs=5e-4)
    assert lambda_d(0.25, 0.35) == pytest.approx(0.298, abs=5e-4)


# The published decision tables for cohorts of 3 up to n = 30 (R's get.boundary()$boundary_tab, as
# printed in the BOIN tutorial and Yuan et al., Clin Cancer Res 2016;22:4291-301).
PUBLISHED = {
    0.3: {
        "escalate": [0, 1, 2, 2, 3, 4, 4, 5, 6, 7],
        "deescalate": [2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
        "eliminate": [3, 4, 5, 7, 8, 9, 10, 11, 12, 14],
    },
    0.25: {
        "escalate": [0, 1, 1, 2, 2, 3, 4, 4, 5, 5],
        "deescalate": [1, 2, 3, 4, 5, 6, 7, 8, 9, 9],
        "eliminate": [3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
    },
}


@pytest.mark.parametrize("target", sorted(PUBLISHED))
def test_boundaries_equal_the_published_tables(target):
    table = BOIN(3, target, max_n=30).boundaries()
    assert table["n"][2::3].tolist() == list(range(3, 31, 3))
    for key, row in PUBLISHED[target].items():
        assert table[key][2::3].tolist() == row, key


@pytest.mark.parametrize("target", [0.2, 0.25, 0.3, 0.33])
def test_boundaries_for_every_n_equal_the_scalar_rules(target):
    table = BOIN(3, target, max_n=60).boundaries()
    rules = Rules(target, 3, 60)
    for n in range(1, 61):
        e, d, elim = oracle_boundaries(rules, n)
        assert table["escalate"][n - 1] == e
        assert table["deescalate"][n - 1] == d
        assert table["eliminate"][n - 1] == (n + 1 if elim is None else elim)


# (n, y, MTD) with 0-based doses; the brief's check cases (1-based: 2, 1, 1, 3, 2).
CHECK_CASES = [
    ((3, 3, 0), (0, 0, 0), 1),
    ((3, 3), (2, 2), 0),
    ((3, 6, 0), (2, 1, 0), 0),
    ((6, 6, 3), (1, 2, 0), 2),
    ((3, 3, 3), (0, 1, 3), 1),
]


@pytest.mark.parametrize(("n", "y", "mtd"), CHECK_CASES)
def test_final_selection_check_cases(n, y, mtd):
    design = BOIN(len(n), 0.3, max_n=30)
    assert design.final_selection(np.array([n]), np.array([y])).tolist() == [mtd]
    assert select_mtd(Rules(0.3, 3, 30), list(n), list(y)) == mtd


def test_final_selection_with_no_mtd():
    design = BOIN(3, 0.3, max_n=30)
    n, y = np.array([[3, 0, 0], [0, 0, 0], [5, 0, 0]]), np.array([[3, 0, 0], [0, 0, 0], [3, 0, 0]])
    assert design.final_selection(n, y).tolist() == [-1, -1, 0]
    # extrasafe: P(p_1 > 0.3 | 3 DLTs in 5) = 0.930 > 0.95 - 0.05, so the lowest dose goes too.
    extrasafe = BOIN(3, 0.3, max_n=30, extrasafe=True)
    assert extrasafe.final_selection(n, y).tolist() == [-1, -1, -1]


def test_pava_equals_scipy_on_random_rows_with_masks():
    rng = np.random.default_rng(1)
    for k in range(1, 8):
        values, weights = rng.random((500, k)), rng.random((500, k)) + 0.01
        mask = rng.random((500, k)) < 0.7
        fitted = pava(values, weights, mask)
        assert np.isnan(fitted[~mask]).all()
        for row in range(500):
            m = mask[row]
            if m.any():
                truth = isotonic_regression(values[row, m], weights=weights[row, m]).x
                np.testing.assert_allclose(fitted[row, m], truth, rtol=0, atol=1e-12)


def test_select_closest_breaks_ties_like_the_r_package():
    candidates = np.array([[1, 1, 1], [1, 1, 1], [1, 1, 0], [0, 0, 0]], dtype=bool)
    # One pooled estimate above the target: the lowest dose; below it: the highest.
    estimates = np.array([[0.4, 0.4, 0.9], [0.1, 0.2, 0.2], [0.25, 0.35, np.nan], [0, 0, 0]])
    assert select_closest(estimates, candidates, 0.3).tolist() == [0, 2, 0, -1]


def rules_of(design: BOIN) -> Rules:
    return Rules(
        design.target,
        design.cohort_size,
        design.max_n,
        p_saf=design.p_saf,
        p_tox=design.p_tox,
        cutoff=design.cutoff_eli,
        extrasafe=design.extrasafe,
        offset=design.offset,
        earlystop=design.n_earlystop,
    )


def assert_exact_equals_oracle(design: BOIN, p: list[float]) -> None:
    truth = operating(rules_of(design), p, design.start_dose)
    oc = exact(design, p)
    np.testing.assert_allclose(oc.p_select, [float(x) for x in truth.select], rtol=0, atol=1e-12)
    assert oc.p_none == pytest.approx(float(truth.none), abs=1e-12)
    np.testing.assert_allclose(oc.mean_n, [float(x) for x in truth.mean_n], rtol=0, atol=1e-12)
    np.testing.assert_allclose(oc.mean_dlt, [float(x) for x in truth.mean_y], rtol=0, atol=1e-12)


CONFIGURATIONS = [
    dict(max_n=9),
    dict(max_n=12),
    dict(cohort_size=1, max_n=6),
    dict(max_n=12, extrasafe=True),
    dict(max_n=15, n_earlystop=6),
    dict(max_n=12, start_dose=1, n_earlystop=3),
    dict(cohort_size=2, max_n=10, start_dose=2, extrasafe=True, offset=0.2, n_earlystop=4),
    dict(target=0.25, max_n=12, cutoff_eli=0.9, p_saf=0.1, p_tox=0.4),
]


@pytest.mark.parametrize("options", CONFIGURATIONS)
@pytest.mark.parametrize("p", [[0.1, 0.3, 0.5], [0.45, 0.6, 0.7], [0.02, 0.05, 0.1]])
def test_exact_engine_equals_the_scalar_enumeration(options, p):
    assert_exact_equals_oracle(BOIN(3, **({"target": 0.3} | options)), p)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(0.0, 1.0), min_size=2, max_size=4).map(sorted),
    st.sampled_from([0.2, 0.25, 0.3, 0.33]),
    st.booleans(),
    st.sampled_from([(1, 6), (2, 8), (3, 9), (3, 12)]),
    st.sampled_from([3, 6, 100]),
    st.integers(0, 3),
)
def test_exact_engine_equals_the_scalar_enumeration_on_random_curves(
    p, target, extrasafe, sizes, early, start
):
    cohort, n = sizes
    design = BOIN(
        len(p),
        target,
        cohort_size=cohort,
        max_n=n,
        extrasafe=extrasafe,
        n_earlystop=early,
        start_dose=min(start, len(p) - 1),
    )
    assert_exact_equals_oracle(design, p)


def test_exact_engine_equals_the_scalar_enumeration_on_four_doses_and_18_patients():
    design = BOIN(4, 0.3, max_n=18, extrasafe=True, n_earlystop=9)
    assert_exact_equals_oracle(design, [0.05, 0.15, 0.3, 0.5])


def test_monte_carlo_agrees_with_exact_within_4_se():
    design = BOIN(5, 0.3, max_n=24, extrasafe=True, n_earlystop=12)
    p = [0.08, 0.2, 0.32, 0.5, 0.65]
    ex = exact(design, p)
    mc = simulate(design, p, 100_000, seed=11)
    assert np.all(np.abs(mc.p_select - ex.p_select) <= 4 * mc.se_p_select + 1e-12)
    assert abs(mc.p_none - ex.p_none) <= 4 * mc.se_p_none + 1e-12
    assert np.all(np.abs(mc.mean_n - ex.mean_n) <= 4 * mc.se_mean_n + 1e-12)
    assert np.all(np.abs(mc.mean_dlt - ex.mean_dlt) <= 4 * mc.se_mean_dlt + 1e-12)


def test_the_trial_has_exactly_max_n_patients_unless_it_stops_for_toxicity():
    oc = exact(BOIN(4, 0.3, max_n=18), [0.0, 0.1, 0.2, 0.3])
    assert oc.total_n_pmf[18] == pytest.approx(1.0, abs=1e-12)
    toxic = exact(BOIN(3, 0.3, max_n=18), [0.7, 0.8, 0.9])
    assert toxic.p_none > 0.9 and toxic.mean_total_n < 18


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(target=0.7), "target must be a number from 0.05 to 0.6"),
        (dict(p_saf=0.29), "p_saf must be a number"),
        (dict(p_tox=0.31), "p_tox must be a number"),
        (dict(cutoff_eli=1.0), "cutoff_eli must be a number from 0.5 to 0.99"),
        (dict(offset=0.5), "offset must be a number from 0 to 0.49"),
        (dict(n_earlystop=0), "n_earlystop must be an integer"),
        (dict(cohort_size=0), "cohort_size must be an integer from 1 to 12"),
        (dict(cohort_size=4, max_n=30), "max_n must be a multiple of cohort_size = 4"),
        (dict(max_n=None), "max_n must be given"),
        (dict(target=0.05, p_saf=0.045, cutoff_eli=0.5, max_n=60), "cutoff_eli must be higher"),
    ],
)
def test_invalid_parameters_name_the_field_and_its_range(options, message):
    with pytest.raises(ValueError, match=message):
        BOIN(3, **({"target": 0.3} | options))


def test_options_and_state_fields():
    design = BOIN(3, 0.25, max_n=12, extrasafe=True)
    assert design.name == "BOIN"
    assert design.options == {"target": 0.25, "cohort_size": 3, "extrasafe": True, "max_n": 12}
    assert design.fields == ("dose", "n", "y", "n0", "y0", "n1", "y1", "n2", "y2")
