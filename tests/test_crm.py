"""The CRM against an independent scalar oracle (``tests/crm_oracle.py``: adaptive quadrature, plain
recursion), dfcrm's published skeleton, and the Monte Carlo engine."""

from __future__ import annotations

import crm_oracle as oracle
import numpy as np
import pytest

from doseesc.designs.base import compile_design
from doseesc.designs.crm import CRM, closest
from doseesc.designs.crm_model import WorkingModel, empiric_skeleton, logistic_skeleton
from doseesc.engines.exact import exact
from doseesc.engines.montecarlo import simulate
from doseesc.models.table import DoseToxicityTable
from doseesc.registry import design

SKELETON = (0.05, 0.12, 0.25, 0.4, 0.55, 0.7)


def test_indifference_interval_skeleton_matches_dfcrm_getprior():
    # dfcrm's getprior(0.05, 0.3, 3, 6) (Lee & Cheung 2009, as stated in the dfcrm documentation).
    s = empiric_skeleton(0.05, 0.3, 2, 6)
    np.testing.assert_allclose(s, [0.1225, 0.2040, 0.3, 0.4018, 0.5013, 0.5928], atol=6e-5)


@pytest.mark.parametrize("model", ["empiric", "logistic"])
def test_skeleton_spacing_is_the_indifference_interval(model):
    # The defining property (Lee & Cheung 2009), target 0.25 +- 0.05 and prior MTD level index 1:
    # below it, where level k's model reaches 0.30 level k-1 is at 0.20; above, where level k-1
    # reaches 0.20 level k is at 0.30.
    make = empiric_skeleton if model == "empiric" else logistic_skeleton
    s = make(0.05, 0.25, 1, 5)
    assert s[1] == pytest.approx(0.25, abs=1e-15)
    m = WorkingModel(tuple(s), model)
    assert m.psi(np.array(m.crossing(1, 0.30)))[0] == pytest.approx(0.20, abs=1e-12)
    for k in range(2, 5):
        assert m.psi(np.array(m.crossing(k - 1, 0.20)))[k] == pytest.approx(0.30, abs=1e-12)


def test_posterior_quadrature_matches_adaptive_quadrature():
    m = WorkingModel(SKELETON, prior_var=1.34)
    n = np.array([[3, 6, 9, 3, 0, 0], [1, 0, 0, 0, 0, 0], [3, 3, 3, 3, 3, 3]])
    y = np.array([[0, 1, 3, 2, 0, 0], [1, 0, 0, 0, 0, 0], [0, 0, 1, 1, 2, 3]])
    c = oracle.Crm(SKELETON, 0.3, 1, 1)
    for row in range(3):
        counts = tuple(zip(n[row].tolist(), y[row].tolist(), strict=True))
        expected = oracle.estimates(c, counts)
        np.testing.assert_allclose(
            m.psi(m.posterior_mean(n[row : row + 1], y[row : row + 1]))[0], expected, atol=1e-12
        )
        c_safe = oracle.Crm(SKELETON, 0.3, 1, 1, safety=0.5)
        p_above = m.prob_above(n[row : row + 1], y[row : row + 1], 0, 0.3)[0]
        assert (p_above > 0.5) == oracle.unsafe(c_safe, counts)


def test_closest_follows_dfcrm_three_way_rule():
    p = np.array([[0.1, 0.2, 0.25], [0.35, 0.4, 0.5], [0.1, 0.25, 0.35], [0.2, 0.3, 0.4], [0.25, 0.35, 0.5]])
    np.testing.assert_array_equal(closest(p, 0.3), [2, 0, 1, 1, 0])
    # a tie (0.25 and 0.35 both 0.05 from 0.3) goes to the lower dose
    allowed = np.array([[True, True, False]] * 5)
    np.testing.assert_array_equal(closest(p, 0.3, allowed), [1, 0, 1, 1, 0])


OPTIONS = [
    ({}, {}),
    ({"estimate": "posterior"}, {"estimate": "posterior"}),
    ({"model": "logistic"}, {"model": "logistic"}),
    ({"safety_stop": 0.7}, {"safety": 0.7}),
    ({"select_untried": False}, {"untried": False}),
    ({"restrict": False}, {"restrict": False}),
    ({"prior_var": 0.5, "start_dose": 1}, {"prior_var": 0.5}),
]


@pytest.mark.parametrize(("options", "oracle_options"), OPTIONS)
def test_exact_equals_oracle_on_random_curves(options, oracle_options):
    rng = np.random.default_rng(20261130)
    for cohort, total in ((3, 12), (1, 6)):
        p = np.sort(rng.uniform(0.01, 0.8, 6))
        d = CRM(6, target=0.3, skeleton=SKELETON, cohort_size=cohort, max_n=total, **options)
        r = exact(d, p)
        c = oracle.Crm(SKELETON, 0.3, cohort, total, **oracle_options)
        ref = oracle.operating(c, tuple(p.tolist()), start=options.get("start_dose", 0))
        np.testing.assert_allclose(np.r_[r.p_none, r.p_select], ref["selected"], atol=1e-12)
        np.testing.assert_allclose(r.mean_n, ref["patients"], atol=1e-12)
        np.testing.assert_allclose(r.mean_dlt, ref["dlts"], atol=1e-12)


def test_monte_carlo_within_four_standard_errors_of_exact():
    d = CRM(6, target=0.3, skeleton=SKELETON, cohort_size=3, max_n=30)
    p = np.array([0.05, 0.1, 0.2, 0.3, 0.5, 0.7])
    ex = exact(d, p)
    mc = simulate(d, DoseToxicityTable(p), n_trials=100_000, seed=7)
    se = np.sqrt(ex.p_select * (1 - ex.p_select) / 100_000)
    assert np.all(np.abs(mc.p_select - ex.p_select) <= 4 * se + 1e-12)


def test_restriction_never_skips_and_respects_coherence():
    d = CRM(6, target=0.3, skeleton=SKELETON, cohort_size=3, max_n=30)
    t = compile_design(d)
    live = np.arange(t.n_live)
    for dlt in range(4):
        nxt = t.next[live, dlt]
        ok = (nxt >= 0) & (nxt < t.n_live)
        src, dst = live[ok], nxt[ok]
        cap = np.where(dlt / 3 >= 0.3, t.dose[src], t.dose[src] + 1)
        assert np.all(t.dose[dst] <= cap)


def test_registry_builds_the_crm_with_a_computed_skeleton():
    crm = design("crm").build(6, {"halfwidth": 0.05, "prior_mtd": 2}, target=0.3)
    np.testing.assert_allclose(crm.working.skeleton, empiric_skeleton(0.05, 0.3, 2, 6))
    assert crm.cohort_size == 1 and crm.max_n == 30


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"skeleton": (0.1, 0.3, 0.2, 0.4, 0.5, 0.6)}, "skeleton must hold 6 increasing"),
        ({"skeleton": (0.1, 0.2)}, "skeleton must hold 6"),
        ({"max_n": 31, "cohort_size": 3}, "max_n must be a multiple"),
        ({"model": "probit"}, "model must be one of"),
        ({"safety_stop": 0.2}, "safety_stop must be"),
        ({"halfwidth": 0.4}, "halfwidth must leave"),
        ({"model": "logistic", "intercept": -3.0, "skeleton": SKELETON}, "skeleton must stay below"),
    ],
)
def test_bad_parameters_name_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CRM(6, **kwargs)


CHEUNG_SKELETON = (0.05, 0.12, 0.25, 0.40, 0.55)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("logistic", (0.00768, 0.0265, 0.0817, 0.182, 0.331)),
        ("empiric", (0.00701, 0.0299, 0.101, 0.219, 0.372)),
    ],
)
def test_cheung_2011_page_21_example_as_fitted_by_dfcrm(model, expected):
    # Cheung (2011), Dose Finding by the CRM, p. 21: doses 3, 5, 5, 3, 4 with one DLT (the third
    # patient); the estimates dfcrm prints for it (the escalation package's CRM vignette, as read in
    # docs/published.md).  Printed to three significant digits.
    d = CRM(5, target=0.25, skeleton=CHEUNG_SKELETON, model=model, max_n=20)
    n, y = np.array([[0, 0, 2, 1, 2]]), np.array([[0, 0, 0, 0, 1]])
    p = d.estimates(n, y)[0]
    np.testing.assert_allclose(p, expected, rtol=5e-3)
    assert d.assess(n, y)["recommended"][0] == 3  # dose 4 in 1-based levels


def test_cheung_2011_table_3_2_trial_is_reproduced_patient_by_patient():
    # Cheung (2011), Table 3.2 (p. 26), as transcribed in docs/published.md: logistic model, target
    # 0.25, start at dose 3, cohorts of 1, no restrictions; patient i has a DLT when u_i < P(DLT) at
    # its dose.  Levels are 1-based in the book.
    true = (0.02, 0.04, 0.10, 0.25, 0.50)
    u = (0.571, 0.642, 0.466, 0.870, 0.634, 0.390, 0.524, 0.773, 0.175, 0.627)
    u += (0.321, 0.099, 0.383, 0.995, 0.628, 0.346, 0.919, 0.022, 0.647, 0.469)
    doses = (3, 5, 5, 3, 4, 4, 5, 5, 5, 5, 5, 4, 4, 4, 4, 4, 4, 4, 4, 4)
    dlts = (0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0)
    beta = (0.60, 0.93, 0.04, 0.18, 0.28, 0.34, 0.41, 0.47, 0.31, 0.35)
    beta += (0.25, 0.15, 0.18, 0.21, 0.24, 0.26, 0.28, 0.21, 0.22, 0.24)
    d = CRM(
        5, target=0.25, skeleton=CHEUNG_SKELETON, model="logistic", restrict=False, start_dose=2, max_n=20
    )
    state = d.start()
    for i in range(20):
        dose = int(state["dose"][0])
        assert dose + 1 == doses[i]
        dlt = int(u[i] < true[dose])
        assert dlt == dlts[i]
        state = d.update(state, {"dlt": np.array([dlt])})
        n, y = d.per_dose(state)
        assert d.working.posterior_mean(n, y)[0] == pytest.approx(beta[i], abs=0.005)


BRAUN_SKELETON = (0.03, 0.11, 0.25, 0.42, 0.58, 0.71)
PRECAUTIONARY = {
    "no_skip": "tried",
    "coherence": "dose",
    "stop_n_lowest_dose": 5,
    "stop_n_any_dose": 10,
    "final": "next",
}


def _paths_per_selection(table, n_doses: int) -> np.ndarray:
    """Distinct sequences of cohort outcomes ending with each selection (index 0: none), counted
    backwards over the state graph (a cohort always adds patients, so decreasing totals is a
    topological order)."""
    live = table.n_live
    total = sum(table.states[f"n{j}"] for j in range(n_doses))
    paths = np.zeros((live + 1 + n_doses, n_doses + 1), dtype=np.int64)
    paths[live:] = np.eye(n_doses + 1, dtype=np.int64)  # absorbing id live + 1 + k selects k
    for s in np.argsort(-total, kind="stable"):
        for nxt in table.next[s]:
            if nxt >= 0:
                paths[s] += paths[nxt]
    return paths[0]


def test_braun_2020_calibrated_crm_matches_norris_complete_path_enumeration():
    """Norris (package precautionary, vignette "MCSE-Free CRM Performance and Safety Assessment",
    2021) enumerated every path of Braun's (Stat Med 2020) calibrated CRM: 22,041 paths, and with the
    true P(DLT) equal to the skeleton the printed selection probabilities and DLTs per patient at
    doses 4-6 (docs/published.md, item 3 of the CRM list)."""
    d = CRM(
        6, target=0.25, skeleton=BRAUN_SKELETON, prior_var=0.85**2, cohort_size=2, max_n=30, **PRECAUTIONARY
    )
    r = exact(d, BRAUN_SKELETON)
    published = [0.010420, 0.248309, 0.560418, 0.172114, 0.008630, 0.000109]
    np.testing.assert_allclose(r.p_select, published, atol=5e-7)
    assert r.p_none == 0.0
    assert round(r.mean_dlt[3:].sum() / r.mean_n[3:].sum(), 3) == 0.442
    paths = _paths_per_selection(compile_design(d), 6)
    assert paths.sum() == 22_041
    np.testing.assert_array_equal(paths[1:], [6178, 9266, 4864, 1314, 341, 78])
    mc = simulate(d, DoseToxicityTable(np.array(BRAUN_SKELETON)), n_trials=200_000, seed=2020)
    se = np.sqrt(np.multiply(published, np.subtract(1, published)) / 200_000)
    assert np.all(np.abs(mc.p_select - published) <= 4 * se + 1e-12)


def test_precautionary_options_cap_escalation_by_the_highest_dose_tried():
    d = CRM(6, target=0.25, skeleton=BRAUN_SKELETON, cohort_size=2, max_n=20, **PRECAUTIONARY)
    t = compile_design(d)
    n = np.stack([t.states[f"n{j}"] for j in range(6)], axis=1)
    highest = np.where(n > 0, np.arange(6), 0).max(axis=1)
    started = n.sum(axis=1) > 0
    assert np.all(t.dose[started] <= highest[started] + 1)
    # every state a trial continues from has fewer than 10 patients at any dose, 5 at dose 1
    assert np.all(n.max(axis=1) < 10) and np.all(n[:, 0] < 5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"no_skip": "never"}, "no_skip must be one of given, tried"),
        ({"coherence": "dose", "restrict": False}, "need restrict = true"),
        ({"final": "next", "select_untried": False}, "select_untried = false"),
        ({"stop_n_any_dose": 0}, "stop_n_any_dose"),
    ],
)
def test_precautionary_options_refuse_what_has_no_effect(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CRM(6, skeleton=BRAUN_SKELETON, **kwargs)
