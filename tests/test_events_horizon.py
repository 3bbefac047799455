"""The events engine's trial horizon (``Conduct.max_days``): trials that reach it run out of time.

Closed forms: with regular accrual (one patient every 10 days, the first on day 10, no screening)
and DLTs known only at the end of a 28-day window, no cohort can be decided before day 38, so a
trial with a horizon ``T`` below that doses ``min(floor(T / 10), 3)`` patients and runs out of time.
With Poisson accrual at ``lam`` patients per day and ``T <= 28`` no decision is possible either, and
the patients dosed are ``min(N, 3)`` with ``N ~ Poisson(lam T)``: its mean and SD are summed over the
Poisson probabilities.  Simulated means are compared within 4 standard errors (Z = 4; see
tests/test_events.py).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import poisson

from doseesc.conduct import DAYS_PER_MONTH, HORIZON_DAYS, Conduct
from doseesc.designs import ThreePlusThree
from doseesc.engines.events import run_events
from doseesc.output import format_events

Z = 4.0
P_TOX = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7]
EVERY_10_DAYS = DAYS_PER_MONTH / 10


def regular(**changes) -> Conduct:
    return Conduct(EVERY_10_DAYS, accrual_process="regular", dlt_onset="end", **changes)


@pytest.mark.parametrize(("horizon", "decision"), [(1.0, "earliest"), (25.0, "earliest"), (35.0, "filled")])
def test_a_horizon_before_any_decision_runs_every_trial_out_of_time(horizon, decision):
    r = run_events(ThreePlusThree(6), P_TOX, regular(max_days=horizon, cohort_decision=decision), 300, seed=3)
    arrived = math.floor(horizon / 10)
    assert r.p_out_of_time == 1.0 and r.se_p_out_of_time == 0.0 and r.out_of_time.all()
    assert r.oc.p_none == 1.0 and r.oc.p_select.sum() == 0.0
    assert np.all(r.durations == horizon)
    assert r.counts["screened"].mean == arrived and r.counts["dosed"].mean == min(arrived, 3)
    # The cohort still open was not decided: no patient is counted as treated at a dose.
    assert r.oc.mean_total_n == 0.0 and r.oc.mean_n.sum() == 0.0
    assert r.log[-1].kind != "end" or r.log[-1].time == horizon
    kinds = [x.kind for x in r.log if x.time == horizon and x.patient < 0]
    end = next(x for x in r.log if x.kind == "end")
    assert kinds[-2:] == ["out_of_time", "end"] and end.note == "none" and end.dose == -1


def test_patients_wait_at_the_horizon():
    """Complete windows only: cohort 1 (days 10, 20, 30) is decided on day 58; by day 45 four
    patients arrived, three were dosed and one waits."""
    r = run_events(ThreePlusThree(6), P_TOX, regular(max_days=45.0, cohort_decision="complete"), 50, seed=4)
    assert r.p_out_of_time == 1.0
    assert {k: r.counts[k].mean for k in ("screened", "dosed", "waiting_at_end")} == {
        "screened": 4,
        "dosed": 3,
        "waiting_at_end": 1,
    }


def test_poisson_accrual_doses_the_closed_form_number_by_the_horizon():
    per_month, horizon, n = 6.0, 20.0, 20_000
    conduct = Conduct(per_month, dlt_onset="end", max_days=horizon)
    r = run_events(ThreePlusThree(6), P_TOX, conduct, n, seed=5)
    k = np.arange(200)
    pmf = poisson.pmf(k, per_month / DAYS_PER_MONTH * horizon)
    dosed = np.minimum(k, 3)
    mean = pmf @ dosed
    sd = math.sqrt(pmf @ dosed**2 - mean**2)
    assert r.p_out_of_time == 1.0
    assert abs(r.counts["dosed"].mean - mean) <= Z * sd / math.sqrt(n)
    lam_t = per_month / DAYS_PER_MONTH * horizon
    assert abs(r.counts["screened"].mean - lam_t) <= Z * math.sqrt(lam_t / n)


def test_share_out_of_time_is_the_share_of_trials_longer_than_the_horizon():
    """A horizon between decisions: the share out of time estimates P(duration >= horizon) of the
    same trials without a horizon (another run: a trial cut short leaves the block's later trials
    other random numbers, so the two runs agree in distribution, within the SE of a difference of
    two independent proportions); trials out of time end at the horizon and select nothing."""
    conduct = Conduct(2.0, screening_days=7.0, window_days=28.0)
    n = 4_000
    free = run_events(ThreePlusThree(6), P_TOX, conduct, n, seed=8)
    horizon = float(np.quantile(free.durations, 0.7))
    cut = run_events(ThreePlusThree(6), P_TOX, replace(conduct, max_days=horizon), n, seed=8, records=True)
    p = float((free.durations >= horizon).mean())
    assert abs(cut.p_out_of_time - p) <= Z * math.sqrt(2 * p * (1 - p) / n)
    assert cut.se_p_out_of_time == pytest.approx(math.sqrt(cut.p_out_of_time * (1 - cut.p_out_of_time) / n))
    assert np.array_equal(cut.out_of_time, cut.durations == horizon)
    assert cut.durations.max() == horizon
    rec = cut.oc.records
    assert (rec.selected[rec.out_of_time] == -1).all()
    assert cut.oc.p_none == pytest.approx(float((rec.selected == -1).mean()))
    assert cut.oc.p_none > cut.p_out_of_time > 0.2


def test_default_horizon_changes_nothing():
    """With the default horizon a trial is as before it existed: the same as with a horizon just past
    the longest trial, and (figures computed at commit 0e5d29c, before the horizon) the same duration
    and selection for this seed."""
    conduct = Conduct.halpc(
        2.0, screen_failure=0.2, max_wait_days=14.0, stagger_days=7.0, halt_probability=0.5, halt_days=14.0
    )
    assert conduct.max_days == HORIZON_DAYS == 36525.0
    r = run_events(ThreePlusThree(6), P_TOX, conduct, 1_500, seed=7, records=True)
    assert r.duration.mean == 376.13464639866726
    assert (r.oc.p_select * 1_500).round().astype(int).tolist() == [178, 468, 478, 261, 48, 1]
    assert r.p_out_of_time == 0.0 and not r.oc.records.out_of_time.any()
    just_past = run_events(
        ThreePlusThree(6), P_TOX, replace(conduct, max_days=float(r.durations.max()) + 1e-6), 1_500, seed=7
    )
    assert np.array_equal(just_past.durations, r.durations)
    assert np.array_equal(just_past.oc.p_select, r.oc.p_select)


def test_out_of_time_in_json_frames_and_text():
    r = run_events(ThreePlusThree(6), P_TOX, regular(max_days=25.0), 1, seed=9, records=True)
    text = json.dumps(r.to_dict(include_log=True), allow_nan=False)  # one trial: SDs undefined
    out = json.loads(text)
    assert out["p_out_of_time"] == 1.0 and out["se_p_out_of_time"] == 0.0
    assert out["conduct"]["max_days"] == 25.0 and out["duration_days"]["sd"] is None
    assert r.summary_frame()["p_out_of_time"].tolist() == [1.0]
    assert r.oc.records["out_of_time"].tolist() == [True]
    assert "ran out of time (undecided at the horizon, 25 days; no dose selected): 100.00% ± 0.00" in (
        format_events(r)
    )
    # without a horizon of the user's, and none reached, the text does not mention one
    assert "ran out of time" not in format_events(run_events(ThreePlusThree(6), P_TOX, regular(), 5, seed=9))


@pytest.mark.parametrize("value", [0.5, 36526.0, math.nan, math.inf])
def test_horizon_outside_its_range_is_refused_naming_it(value):
    with pytest.raises(ValueError, match=r"^Conduct\.max_days = .*: allowed range is \[1, 36525\]$"):
        Conduct(1.0, max_days=value)
