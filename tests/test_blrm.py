"""BLRM with EWOC: the posterior against adaptive two-dimensional quadrature and, where many patients
make it narrow, against an independent dense Gauss-Legendre rule (``blrm_oracle``); EWOC on every
reachable state, the stopping rule, exact against Monte Carlo, and its registry entry."""

from __future__ import annotations

import math

import numpy as np
import pytest
from blrm_oracle import posterior_at_dose
from scipy.integrate import dblquad
from scipy.special import logit

from doseesc.designs.base import DecisionTable, compile_design
from doseesc.designs.blrm import BLRM
from doseesc.designs.blrm_model import BLRMModel, BLRMPrior
from doseesc.engines.exact import exact
from doseesc.engines.montecarlo import simulate
from doseesc.models.table import DoseToxicityTable
from doseesc.registry import ParamError, design

DOSES = (0.3, 0.6, 1.2, 2.5, 5.0)
DATA = [
    ((3, 6, 9, 6, 0), (0, 1, 2, 2, 0)),
    ((0, 0, 3, 0, 0), (0, 0, 1, 0, 0)),
    ((3, 3, 3, 3, 3), (0, 0, 1, 1, 2)),
    ((6, 0, 0, 0, 0), (0, 0, 0, 0, 0)),
]


def _reference(model: BLRMModel, n, y, dose: int, cut: float) -> float:
    """P(P(DLT at dose) >= cut | data) by a dense tensor Gauss-Legendre rule in the coordinates
    (eta, log beta), eta = logit P(DLT at dose), where the event is the half-line eta >= logit(cut):
    for each log beta node, eta runs over 30 prior standard deviations of log alpha around its prior
    centre, split at the cut, in 24 panels of 20 nodes (independent of the design's grid and weights)."""
    p, x = model.prior, np.asarray(model.x)
    n, y = np.asarray(n, float), np.asarray(y, float)
    z, w = np.polynomial.legendre.leggauss(20)
    edges = np.linspace(0, 1, 25)
    half = np.diff(edges)[:, None] / 2
    t, wt = ((edges[:-1, None] + half) + half * z).ravel(), (half * w).ravel()  # composite rule on [0, 1]

    c = float(logit(cut))
    bl, bh = p.mean_log_beta - 7 * p.sd_log_beta, p.mean_log_beta + 7 * p.sd_log_beta
    b, wb = (bl + (bh - bl) * t)[None, :], ((bh - bl) * wt)[None, :]
    centre = p.mean_log_alpha + np.exp(b) * x[dose]
    parts = []
    for lo, hi in (
        (np.minimum(c, centre - 15 * p.sd_log_alpha), c),
        (c, np.maximum(c, centre + 15 * p.sd_log_alpha)),
    ):
        eta = lo + (hi - lo) * t[:, None]
        weight = (hi - lo) * wt[:, None] * wb
        a = eta - np.exp(b) * x[dose]
        z1 = (a - p.mean_log_alpha) / p.sd_log_alpha
        z2 = (b - p.mean_log_beta) / p.sd_log_beta
        q = -(z1**2 - 2 * p.correlation * z1 * z2 + z2**2) / (2 * (1 - p.correlation**2))
        logits = a[..., None] + np.exp(b)[..., None] * x
        ll = (-y * np.logaddexp(0, -logits) - (n - y) * np.logaddexp(0, logits)).sum(axis=-1)
        parts.append(np.sum(weight * np.exp(q + ll)))
    return parts[1] / (parts[0] + parts[1])


@pytest.mark.parametrize(("n", "y"), DATA)
def test_posterior_interval_probabilities_match_a_dense_gauss_legendre_rule(n, y):
    m = BLRM(5, doses=DOSES).model
    s = m.summaries(np.array([n]), np.array([y]))
    for dose in (0, 2, 4):
        over = _reference(m, n, y, dose, 0.33)
        above_lower = _reference(m, n, y, dose, 0.16)
        assert s["p_over"][0, dose] == pytest.approx(over, abs=1e-6)
        assert s["p_target"][0, dose] == pytest.approx(above_lower - over, abs=1e-6)


def test_posterior_with_a_correlated_prior_matches_two_references():
    m = BLRMModel(tuple(np.log(np.array(DOSES) / 1.2)), BLRMPrior(-1.0, 1.5, 0.2, 0.8, -0.5))
    n, y = DATA[0]
    s = m.summaries(np.array([n]), np.array([y]))
    assert s["p_over"][0, 3] == pytest.approx(_reference(m, n, y, 3, 0.33), abs=1e-6)
    # and once against scipy's adaptive 2-D quadrature in the model's own coordinates
    p, x = m.prior, np.asarray(m.x)

    def post(a: float, b: float) -> float:
        z1 = (a - p.mean_log_alpha) / p.sd_log_alpha
        z2 = (b - p.mean_log_beta) / p.sd_log_beta
        q = -(z1 * z1 - 2 * p.correlation * z1 * z2 + z2 * z2) / (2 * (1 - p.correlation**2))
        eta = a + math.exp(b) * x
        ll = np.sum(-np.multiply(y, np.logaddexp(0, -eta)) - np.subtract(n, y) * np.logaddexp(0, eta))
        return math.exp(q + ll)

    opts = {"epsabs": 0, "epsrel": 1e-9}
    z = dblquad(post, -7, 7, -15, 13, **opts)[0]
    c = float(logit(0.33))
    over = dblquad(post, -7, 7, lambda b: min(13, max(-15, c - math.exp(b) * x[3])), 13, **opts)[0] / z
    assert s["p_over"][0, 3] == pytest.approx(over, abs=1e-6)


SIX = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
NARROW = [
    # 60 patients spread over six doses as a trial spreads them
    ((3, 6, 12, 21, 15, 3), (0, 0, 2, 5, 5, 2)),
    # 30 at one dose with one DLT (a long left tail), and with none
    ((0, 0, 30, 0, 0, 0), (0, 0, 1, 0, 0, 0)),
    ((1, 2, 55, 0, 0, 0), (0, 0, 7, 0, 0, 0)),
    # every patient a DLT at the lowest dose
    ((6, 0, 0, 0, 0, 0), (6, 0, 0, 0, 0, 0)),
    # 120 and 240 patients on two doses, 240 and 480 over six: where a fixed grid was off by 1e-5-1e-3
    ((0, 0, 0, 60, 60, 0), (0, 0, 0, 12, 24, 0)),
    ((0, 0, 0, 120, 120, 0), (0, 0, 0, 24, 48, 0)),
    ((12, 24, 48, 84, 60, 12), (0, 0, 8, 20, 20, 8)),
    ((24, 48, 96, 168, 120, 24), (0, 0, 16, 40, 40, 16)),
]


def _oracle_check(m: BLRMModel, n, y, doses, tol: float) -> None:
    s = m.summaries(np.array([n]), np.array([y]))
    p = m.prior
    prior = (p.mean_log_alpha, p.sd_log_alpha, p.mean_log_beta, p.sd_log_beta, p.correlation)
    for dose in doses:
        (above_lower, over), mean = posterior_at_dose(prior, m.x, n, y, dose, b_panels=20, eta_panels=10)
        assert s["p_over"][0, dose] == pytest.approx(over, abs=tol)
        assert s["p_target"][0, dose] == pytest.approx(above_lower - over, abs=tol)
        assert s["mean"][0, dose] == pytest.approx(mean, abs=tol)


@pytest.mark.parametrize(("n", "y"), NARROW)
def test_narrow_posteriors_match_the_dense_reference_to_1e8(n, y):
    _oracle_check(BLRM(6, doses=SIX).model, n, y, (0, 3, 5), 1e-8)


def test_a_tight_correlated_prior_matches_the_dense_reference():
    m = BLRMModel(tuple(np.log(np.array(SIX) / 4.0)), BLRMPrior(-1.5, 0.5, 0.3, 0.3, 0.4))
    _oracle_check(m, (3, 6, 12, 21, 15, 3), (0, 0, 2, 5, 5, 2), (1, 4), 1e-8)


def test_the_dense_reference_has_converged():
    m = BLRM(6, doses=SIX).model
    p = m.prior
    prior = (p.mean_log_alpha, p.sd_log_alpha, p.mean_log_beta, p.sd_log_beta, p.correlation)
    n, y = NARROW[5]
    coarse = posterior_at_dose(prior, m.x, n, y, 4, b_panels=20, eta_panels=10)
    fine = posterior_at_dose(prior, m.x, n, y, 4, b_panels=40, eta_panels=20)
    assert np.max(np.abs(np.r_[coarse[0], coarse[1]] - np.r_[fine[0], fine[1]])) < 1e-13


def test_narrow_posteriors_get_finer_grids_and_batches_do_not_change_the_numbers():
    m = BLRM(6, doses=SIX).model
    n, y = np.array([n for n, _ in NARROW]), np.array([y for _, y in NARROW])
    together = m.summaries(n, y)
    for i in range(n.shape[0]):
        alone = m.summaries(n[i : i + 1], y[i : i + 1])
        for key, value in alone.items():
            assert np.allclose(value[0], together[key][i], rtol=0, atol=1e-13)
    # the 240- and 480-patient data sets needed grids finer than the first on both axes
    assert any(level1 >= 2 and level2 >= 1 for level1, level2 in m._grids)


@pytest.fixture(scope="module")
def tabulated() -> tuple[BLRM, DecisionTable]:
    """The BLRM of the scenario's five doses and its state graph (2-3 s to tabulate: done once)."""
    d = BLRM(5, doses=DOSES, max_increase=1.1)
    return d, compile_design(d)


def test_ewoc_holds_on_every_reachable_state(tabulated):
    d, t = tabulated
    n, y = d.per_dose(t.states)
    s = d.model.summaries(n, y)
    started = n.sum(axis=1) > 0  # the first cohort's dose is chosen before any data
    p_over_next = s["p_over"][np.arange(t.n_live), t.dose]
    assert np.all(p_over_next[started] < d.ewoc)
    # not vacuous: the check above ran over many states with data
    assert started.sum() > 100


def test_early_stops_have_six_at_the_mtd_and_high_target_probability(tabulated):
    d, t = tabulated
    n, y = d.per_dose(t.states)
    live = np.arange(t.n_live)
    checked = 0
    for dlt in range(4):
        nxt = t.next[live, dlt]
        n2, y2 = n.copy(), y.copy()
        n2[live, t.dose] += 3
        y2[live, t.dose] += dlt
        sel = t.selected(np.where(nxt >= t.n_live, nxt, t.n_live))
        early = (nxt >= t.n_live) & (sel >= 0) & (n2.sum(axis=1) + 3 <= 30)
        s = d.model.summaries(n2[early], y2[early])
        at = sel[early]
        rows = np.arange(at.shape[0])
        assert np.all(n2[early][rows, at] >= 6)
        assert np.all(s["p_target"][rows, at] >= 0.5)
        checked += int(early.sum())
    assert checked > 20


def test_exact_agrees_with_monte_carlo():
    d = BLRM(5, doses=DOSES, max_increase=1.1)
    p = np.array([0.02, 0.06, 0.15, 0.3, 0.5])
    ex = exact(d, p)
    mc = simulate(d, DoseToxicityTable(p), n_trials=60_000, seed=3)
    probs = np.r_[ex.p_none, ex.p_select]
    se = np.sqrt(probs * (1 - probs) / 60_000)
    assert np.all(np.abs(np.r_[mc.p_none, mc.p_select] - probs) <= 4 * se + 1e-12)


def test_registry_passes_the_scenario_doses():
    with pytest.raises(ParamError, match="is required by design blrm"):
        design("blrm").build(5, {})
    b = design("blrm").build(5, {"max_increase": 1.1}, doses=[0.3, 0.6, 1.2, 2.5, 5])
    assert b.doses == DOSES and b.d_ref == 1.2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"doses": (1, 2, 2, 3, 4)}, "doses must hold 5 increasing"),
        ({"doses": DOSES, "overdose": 0.1}, "overdose must be"),
        ({"doses": DOSES, "ewoc": 1.0}, "ewoc must be"),
        ({"doses": DOSES, "choose": "lowest"}, "choose must be one of"),
        ({"doses": DOSES, "prior_corr": 0.99}, "prior_corr must be"),
    ],
)
def test_bad_parameters_name_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BLRM(5, **kwargs)


def test_the_command_line_passes_the_doses(capsys):
    from doseesc.cli import main

    args = ["simulate", "--design", "blrm", "--p-tox", "0.05,0.1,0.2,0.3,0.5,0.7"]
    with pytest.raises(SystemExit) as stop:
        main(args)
    assert stop.value.code == 2
    assert (
        capsys.readouterr().err
        == "doseesc: error: --doses is required by design blrm (its rule uses the dose values)\n"
    )
    assert main([*args, "--doses", "1,2,4,8,16,32", "--max-increase", "1.1", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"design": "BLRM-EWOC"' in out and '"doses": [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]' in out
