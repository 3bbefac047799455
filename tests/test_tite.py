"""The TITE-CRM: with complete follow-up it is the CRM; with pending patients its weighted estimate
matches a hand computation by adaptive quadrature; in calendar time, slow accrual gives the CRM's
operating characteristics and the closed-form duration."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.integrate import quad

from doseesc.conduct import Conduct, DiseaseCourse
from doseesc.designs.base import RUNNING, with_limits
from doseesc.designs.crm import CRM
from doseesc.designs.tite import TITECRM
from doseesc.engines.exact import exact
from doseesc.engines.tite import simulate_tite

SKELETON = (0.05, 0.12, 0.25, 0.4, 0.55, 0.7)
P = np.array([0.05, 0.1, 0.2, 0.3, 0.5, 0.7])


@pytest.mark.parametrize("estimate", ["plugin", "posterior"])
def test_complete_follow_up_reduces_to_the_crm(estimate):
    tite = TITECRM(6, target=0.3, skeleton=SKELETON, estimate=estimate)
    crm = CRM(6, target=0.3, skeleton=SKELETON, estimate=estimate)
    rng = np.random.default_rng(4)
    for _ in range(20):
        levels = rng.integers(0, 6, size=rng.integers(1, 15))
        tox = rng.random(levels.size) < 0.3
        n = np.bincount(levels, minlength=6)[None, :]
        y = np.bincount(levels, weights=tox, minlength=6).astype(np.int64)[None, :]
        np.testing.assert_allclose(
            tite.weighted_estimates(levels, tox, np.ones(levels.size)), crm.estimates(n, y)[0], atol=1e-12
        )
        # the next dose: the CRM's rule after a cohort of one at the last patient's dose
        state = {f"n{j}": n[:, j] - (j == levels[-1]) for j in range(6)} | {
            f"y{j}": y[:, j] - (j == levels[-1]) * tox[-1] for j in range(6)
        }
        state |= {
            "dose": np.array([levels[-1]]),
            "n": np.zeros(1, int),
            "y": np.zeros(1, int),
            "final": np.zeros(1, int),
        }
        after = crm.update(state, {"dlt": np.array([int(tox[-1])])})
        assert tite.next_dose(levels, tox, np.ones(levels.size)) == after["dose"][0]


def test_weighted_estimate_with_pending_patients_matches_a_hand_computation():
    # Four patients: dose 1 (index 0) no DLT after the full window, dose 2 no DLT at 60% of the
    # window, dose 2 a DLT, dose 3 no DLT at 10%.  Empiric model, N(0, 1.34) prior: the posterior
    # mean of beta by adaptive quadrature of the weighted likelihood (Cheung & Chappell 2000).
    tite = TITECRM(6, target=0.3, skeleton=SKELETON)
    levels, tox, w = (
        np.array([0, 1, 1, 2]),
        np.array([False, False, True, False]),
        np.array([1.0, 0.6, 0.2, 0.1]),
    )
    s = np.array(SKELETON)

    def like(b: float) -> float:
        psi = s ** math.exp(b)
        value = psi[1] * (1 - psi[0]) * (1 - 0.6 * psi[1]) * (1 - 0.1 * psi[2])
        return value * math.exp(-b * b / 2.68)

    den = quad(like, -30, 30, epsabs=0, epsrel=1e-12)[0]
    beta = quad(lambda b: b * like(b), -30, 30, epsabs=0, epsrel=1e-12)[0] / den
    np.testing.assert_allclose(tite.weighted_estimates(levels, tox, w), s ** math.exp(beta), atol=1e-12)
    p = s ** math.exp(beta)
    rec = int(np.argmin(np.abs(p - 0.3)))
    assert tite.next_dose(levels, tox, w) == min(rec, 3)  # at most one above the last patient's dose


def test_slow_regular_accrual_gives_the_crm_and_its_duration():
    # One patient every 2 months, a 28-day window: every decision sees complete data, so the
    # TITE-CRM is the CRM with cohorts of one, and a trial of N lasts N x 2 months + 28 days.
    n_trials, n_max = 1500, 8
    tite = TITECRM(6, target=0.3, skeleton=SKELETON, max_n=n_max)
    r = simulate_tite(tite, P, Conduct(accrual_per_month=0.5, accrual_process="regular"), n_trials, seed=2)
    ex = exact(CRM(6, target=0.3, skeleton=SKELETON, max_n=n_max), P)
    se = np.sqrt(ex.p_select * (1 - ex.p_select) / n_trials)
    assert np.all(np.abs(r.p_select - ex.p_select) <= 4 * se + 1e-12)
    assert r.extras["duration_days"]["mean"] == pytest.approx(n_max * 2 * 365.25 / 12 + 28)


def test_stop_n_at_dose_with_slow_accrual_is_the_crms():
    # Complete data at every decision: the TITE-CRM with stop_n_at_dose is the CRM with cohorts of
    # one and the core's stop_n_at_dose (doseesc.designs.base.with_limits), which the exact engine
    # enumerates; with N = 10 and 3 at a dose, some trials stop at a full dose, others reach N.
    n_trials, n_max, stop_n = 800, 10, 3
    tite = TITECRM(6, target=0.3, skeleton=SKELETON, max_n=n_max, stop_n_at_dose=stop_n)
    r = simulate_tite(tite, P, Conduct(accrual_per_month=0.5, accrual_process="regular"), n_trials, seed=6)
    ex = exact(CRM(6, target=0.3, skeleton=SKELETON, max_n=n_max, stop_n_at_dose=stop_n), P)
    assert 0.05 < ex.total_n_pmf[n_max] < 0.95  # both ends of a trial are exercised
    se = np.sqrt(ex.p_select * (1 - ex.p_select) / n_trials)
    assert np.all(np.abs(r.p_select - ex.p_select) <= 4 * se + 1e-12)
    se_n = ex.sd_n / math.sqrt(n_trials)
    assert np.all(np.abs(r.mean_n - ex.mean_n) <= 4 * se_n + 1e-12)
    assert abs(r.mean_total_n - ex.mean_total_n) <= 4 * ex.sd_total_n / math.sqrt(n_trials)
    # one patient every 2 months from the first arrival, the last one followed for the 28-day window
    assert r.extras["duration_days"]["mean"] == pytest.approx(r.mean_total_n * 2 * 365.25 / 12 + 28)


def test_when_max_n_completes_the_trial_stop_n_at_dose_is_checked_first_as_for_the_crm():
    # Six patients at the lowest dose, a DLT in the last: the CRM's unrestricted selection is the
    # dose above, but the next patient would stay at the lowest dose (a DLT was just seen), which
    # holds stop_n_at_dose = 6 patients.  The core's limits (with_limits) select the lowest dose.
    crm = CRM(6, target=0.3, skeleton=SKELETON, max_n=6, stop_n_at_dose=6)

    def one(v: int) -> np.ndarray:
        return np.array([v])

    before = {f"n{j}": one(5 * (j == 0)) for j in range(6)} | {f"y{j}": one(0) for j in range(6)}
    before |= {"dose": one(0), "n": one(5), "y": one(0), "final": one(-1), "total": one(5)}
    after = with_limits(crm).update(before | {"selected": one(RUNNING)}, {"dlt": one(1)})
    assert after["final"][0] == 1 and after["selected"][0] == 0
    levels, tox = np.zeros(6, dtype=int), np.array([False] * 5 + [True])
    assert TITECRM(6, target=0.3, skeleton=SKELETON, max_n=6, stop_n_at_dose=6).final_dose(levels, tox) == 0
    assert TITECRM(6, target=0.3, skeleton=SKELETON, max_n=6).final_dose(levels, tox) == 1


def test_stop_n_at_dose_stops_accrual_with_patients_pending():
    # No DLT can occur and one patient arrives every 3 days, inside the 28-day window: every
    # trial is the same; the trial stops before a patient whose dose already holds 2 patients,
    # selects that dose, and ends 28 days after its last patient, short of max_n.
    tite = TITECRM(6, target=0.3, skeleton=SKELETON, max_n=20, stop_n_at_dose=2)
    conduct = Conduct(accrual_per_month=365.25 / 12 / 3, accrual_process="regular")
    r = simulate_tite(tite, np.zeros(6), conduct, 3, seed=1)
    dose = int(np.argmax(r.p_select))
    assert r.p_select[dose] == 1 and r.mean_n[dose] == 2 and np.all(r.mean_n <= 2)
    assert r.mean_total_n < 20 and r.sd_total_n == 0
    assert r.extras["duration_days"]["mean"] == pytest.approx(3 * r.mean_total_n + 28)


def test_competing_exits_are_replaced_and_the_trial_still_has_max_n_evaluable_patients():
    tite = TITECRM(6, target=0.3, skeleton=SKELETON, max_n=10)
    r = simulate_tite(
        tite, P, Conduct(accrual_per_month=4, disease=DiseaseCourse(aclf_fraction=1.0)), 200, seed=3
    )
    assert r.mean_total_n == 10
    assert r.extras["mean_replaced"] > 0.5  # CANONIC ACLF: about a third exit within 28 days


def test_refuses_other_dlt_onsets_and_cohorts():
    with pytest.raises(ValueError, match="dlt_onset must be uniform"):
        simulate_tite(
            TITECRM(6, skeleton=SKELETON), P, Conduct(accrual_per_month=1, dlt_onset="end"), 10, seed=1
        )
    with pytest.raises(ValueError, match="cohort_size must be 1"):
        TITECRM(6, skeleton=SKELETON, cohort_size=3)


@pytest.mark.parametrize(
    "option",
    [
        {"safety_stop": 0.9},
        {"no_skip": "tried"},
        {"coherence": "dose"},
        {"stop_n_any_dose": 10},
        {"stop_n_lowest_dose": 5},
        {"final": "next"},
    ],
)
def test_crm_options_the_tite_crm_does_not_take_are_refused(option):
    key = next(iter(option))
    with pytest.raises(ValueError, match=f"{key} is a CRM option the TITE-CRM does not take"):
        TITECRM(6, target=0.3, skeleton=(0.05, 0.12, 0.25, 0.4, 0.55, 0.7), **option)


TITE_ARGS = [
    "simulate", "--design", "tite-crm", "--target", "0.3", "--skeleton", "0.05,0.12,0.25,0.4,0.55,0.7",
    "--max-n", "12", "--p-tox", "0.05,0.1,0.2,0.3,0.5,0.7",
]  # fmt: skip


def test_the_command_line_runs_the_tite_crm_in_calendar_time(capsys):
    from doseesc.cli import main

    argv = [*TITE_ARGS, "--engine", "events", "--accrual-per-month", "3", "--trials", "40", "--seed", "5"]
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    direct = simulate_tite(
        TITECRM(6, target=0.3, skeleton=(0.05, 0.12, 0.25, 0.4, 0.55, 0.7), max_n=12),
        [0.05, 0.1, 0.2, 0.3, 0.5, 0.7],
        Conduct(3.0),
        40,
        5,
    )
    assert out["p_select"] == direct.p_select.tolist()
    assert out["duration_days"] == direct.extras["duration_days"]
    assert main(argv) == 0
    assert "duration (days): mean" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--engine", "mc"], "--engine mc: the TITE-CRM weighs pending patients by their follow-up"),
        (
            ["--engine", "events", "--accrual-per-month", "3", "--stagger-days", "3"],
            "--stagger-days = 3.0 has no effect on the TITE-CRM",
        ),
        (
            ["--engine", "events", "--accrual-per-month", "3", "--cohort-size", "3"],
            "--cohort-size is not a parameter of design tite-crm",
        ),
    ],
)
def test_the_command_line_refuses_what_the_tite_crm_cannot_do(capsys, extra, message):
    from doseesc.cli import main

    with pytest.raises(SystemExit) as exc:
        main([*TITE_ARGS, *extra])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_scenario_files_refuse_the_tite_crm_with_the_way_to_run_it(tmp_path):
    from doseesc.scenario import ScenarioError, load

    path = tmp_path / "tite.toml"
    path.write_text(
        '[design]\nname = "tite-crm"\nskeleton = [0.05, 0.12, 0.25, 0.4, 0.55, 0.7]\n'
        '[toxicity]\nmodel = "table"\np_dlt = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7]\n'
        '[conduct]\naccrual_per_month = 3.0\n[run]\nengines = ["events"]\n'
    )
    with pytest.raises(ScenarioError, match="run it with doseesc simulate --engine events"):
        load(path)
