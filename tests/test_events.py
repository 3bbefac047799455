"""The discrete-event engine: agreement with the exact engine, closed-form conduct, replacement,
reproducibility, the timeline figure, validation.

Tolerances.  Every simulated figure compared here is a mean over N independent trials, so it lies
within Z = 4 standard errors of its expectation except with probability ~6e-5 (normal
approximation).  Standard errors come from the exact engine's SDs or from the closed-form
distribution, not from the simulation itself.  Seeds are fixed, so the tests are deterministic.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from doseesc.conduct import CANONIC_ACLF, CANONIC_AD, DAYS_PER_MONTH, RISK_DAYS, Conduct, DiseaseCourse
from doseesc.designs import ThreePlusThree
from doseesc.designs.titration import AcceleratedTitration
from doseesc.engines import exact
from doseesc.engines.events import COUNTS, run_events
from doseesc.models.table import DoseToxicityTable
from doseesc.plots.timeline import timeline
from doseesc.streams import TrialStreams

Z = 4.0
P_TOX = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7]
EVERY_10_DAYS = DAYS_PER_MONTH / 10  # patients per month: one arrival every 10 days


def assert_close(name: str, estimate, expected, se) -> None:
    estimate, expected, se = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (estimate, expected, se))
    exact_ok = np.where(se == 0, estimate == expected, True)
    within = np.abs(estimate - expected) <= Z * se
    assert np.all(exact_ok & within), f"{name}: {estimate} vs {expected} (SE {se})"


def assert_matches_exact(oc, ex, n: int, *, counts: bool = True) -> None:
    assert_close("p_select", oc.p_select, ex.p_select, np.sqrt(ex.p_select * (1 - ex.p_select) / n))
    assert_close("p_none", oc.p_none, ex.p_none, math.sqrt(ex.p_none * (1 - ex.p_none) / n))
    if counts:
        assert_close("mean_n", oc.mean_n, ex.mean_n, ex.sd_n / math.sqrt(n))
        assert_close("mean_dlt", oc.mean_dlt, ex.mean_dlt, ex.sd_dlt / math.sqrt(n))
        assert_close("mean_total_n", oc.mean_total_n, ex.mean_total_n, ex.sd_total_n / math.sqrt(n))
        assert_close("mean_total_dlt", oc.mean_total_dlt, ex.mean_total_dlt, ex.sd_total_dlt / math.sqrt(n))


# -- agreement with the exact engine ------------------------------------------------------------

INSTANTANEOUS = Conduct(1.0, window_days=0.0, cohort_decision="filled")
"""Outcomes known at dosing, no competing risks, no screening failures, every slot dosed."""


@pytest.mark.parametrize("deescalate", [False, True], ids=["classic", "deescalate"])
def test_instantaneous_outcomes_match_exact(deescalate):
    design = ThreePlusThree(6, deescalate=deescalate)
    n = 20_000
    result = run_events(design, P_TOX, INSTANTANEOUS, n, seed=11)
    assert result.oc.engine == "events" and result.oc.n_trials == n
    assert_matches_exact(result.oc, exact(design, P_TOX), n)


def test_calendar_time_conduct_does_not_change_the_design_without_competing_risks():
    """Windows, stagger, waiting limits, screen failures and halts change when decisions happen,
    not what they are: with every slot dosed the operating characteristics are the exact ones."""
    design = ThreePlusThree(6, deescalate=True)
    conduct = Conduct.halpc(
        2.0,
        disease=None,
        screen_failure=0.2,
        max_wait_days=14.0,
        stagger_days=7.0,
        halt_probability=0.5,
        halt_days=14.0,
        cohort_decision="filled",
    )
    n = 16_000
    assert_matches_exact(run_events(design, P_TOX, conduct, n, seed=12).oc, exact(design, P_TOX), n)


def test_earliest_decision_keeps_selection_and_treats_fewer():
    """Closing the slots of a decided cohort changes nobody's selection, only who is treated."""
    design = ThreePlusThree(6)
    n = 12_000
    earliest = run_events(design, P_TOX, Conduct(1.0, window_days=28.0), n, seed=13)
    ex = exact(design, P_TOX)
    assert_matches_exact(earliest.oc, ex, n, counts=False)
    assert earliest.oc.mean_total_n < ex.mean_total_n - Z * ex.sd_total_n / math.sqrt(n)


def test_grade2_counting_design_matches_exact():
    """Accelerated titration reads grade-2 toxicities: outcome codes and early decisions over them."""
    design = AcceleratedTitration.simon(2, 6)
    p_g2 = [0.1, 0.15, 0.2, 0.2, 0.2, 0.2]
    n = 12_000
    conduct = Conduct.halpc(2.0, disease=None, stagger_days=7.0, cohort_decision="filled")
    result = run_events(design, DoseToxicityTable(P_TOX, p_g2), conduct, n, seed=14)
    ex = exact(design, P_TOX, p_g2)
    assert_matches_exact(result.oc, ex, n)
    got, expected = np.asarray(result.oc.extras["p_switch"]), np.asarray(ex.extras["p_switch"])
    assert_close("p_switch", got, expected, np.sqrt(expected * (1 - expected) / n))


class HalvedOrDoubled:
    """A model with two kinds of trial, drawn with probability 1/2 each: in one every patient's DLT
    probability is ``p[d] / 2``, in the other ``3 p[d] / 2``; a named kind of DLT has half of it."""

    events = ("severe",)

    def __init__(self, p):
        self.p = np.asarray(p, dtype=float)
        self.n_doses = self.p.shape[0]
        dlt = np.stack([self.p / 2, 1.5 * self.p])
        self.probability_table = np.stack([dlt, dlt / 2], axis=1)

    def mean_probabilities(self):
        return self.p

    def draw_trials(self, streams: TrialStreams):
        return (streams.random(1)[0] < 0.5).astype(np.intp)


def test_trial_kinds_and_named_events():
    """Each trial follows one kind: the results are the even mixture of the exact results under
    each kind's probabilities."""
    p = np.array([0.05, 0.1, 0.2, 0.3, 0.4, 0.5])
    design = ThreePlusThree(6)
    n = 4_000
    result = run_events(
        design, HalvedOrDoubled(p), Conduct(1.0, window_days=0.0, cohort_decision="filled"), n, 15
    )
    low, high = exact(design, p / 2), exact(design, 1.5 * p)
    p_select = (low.p_select + high.p_select) / 2
    assert_close("p_select", result.oc.p_select, p_select, np.sqrt(p_select * (1 - p_select) / n))
    total_dlt = (low.mean_total_dlt + high.mean_total_dlt) / 2
    second = (low.sd_total_dlt**2 + low.mean_total_dlt**2 + high.sd_total_dlt**2 + high.mean_total_dlt**2) / 2
    se = math.sqrt((second - total_dlt**2) / n)
    assert_close("total DLTs", result.oc.mean_total_dlt, total_dlt, se)
    # Given a DLT (u < q), the named kind (u < q / 2) has probability 1/2, whatever q: given the
    # DLTs, the named ones are binomial(DLTs, 1/2).
    severe = result.oc.events["severe"]
    assert_close("severe", severe.mean_total, result.oc.mean_total_dlt / 2, math.sqrt(total_dlt / 4 / n))


# -- closed-form conduct ------------------------------------------------------------------------


def deterministic(**changes) -> Conduct:
    """One arrival every 10 days (days 10, 20, ...), 5 days of screening, a 28-day window with any
    DLT known at its end, no waiting limit."""
    base = Conduct(
        EVERY_10_DAYS, accrual_process="regular", screening_days=5.0, screening="fixed", dlt_onset="end"
    )
    return replace(base, **changes)


def one_trial(design, p, conduct):
    result = run_events(design, p, conduct, 1, seed=0)
    return result, {name: c.mean for name, c in result.counts.items()}


def test_deterministic_path_duration():
    """Eligible on days 15, 25, 35, ...; doses 1-2 without DLT, dose 3 always a DLT.

    Cohort 1 (dose 1) is dosed on days 15, 25, 35 and completes on day 63.  Cohort 2: the patients
    eligible on days 45 and 55 are dosed on day 63 (waits 18, 8), the one of day 65 at once; windows
    end on days 91, 91, 93.  Cohort 3: days 75 and 85 dosed on day 93 (waits 18, 8), day 95 at once;
    DLTs on days 121, 121, 123: the second DLT settles the cohort (2 of 3) on day 121, MTD = dose 2.
    By then 12 patients arrived (days 10-120), 11 finished screening (the last is in screening), 9
    were dosed and 2 (eligible on days 105, 115) are still waiting.
    """
    result, counts = one_trial(ThreePlusThree(3), [0.0, 0.0, 1.0], deterministic())
    assert result.duration.mean == pytest.approx(121.0)
    assert result.oc.p_select.tolist() == [0.0, 1.0, 0.0]
    assert result.oc.mean_dlt.tolist() == [0.0, 0.0, 3.0]  # the pending third DLT counts
    assert result.mean_wait_days == pytest.approx(52 / 9)
    assert counts == dict.fromkeys(COUNTS, 0) | {
        "screened": 12,
        "in_screening_at_end": 1,
        "enrolled": 11,
        "dosed": 9,
        "waiting_at_end": 2,
    }


def test_deterministic_path_waits_for_complete_windows():
    """As above, but the design is consulted only when every window is over: day 123."""
    result, _ = one_trial(ThreePlusThree(3), [0.0, 0.0, 1.0], deterministic(cohort_decision="complete"))
    assert result.duration.mean == pytest.approx(123.0)


def test_deterministic_path_with_stagger():
    """A 7-day sentinel at each new dose.  Cohort 1: day 15, gate open on day 22, then days 25 and
    35 as they come; complete on day 63.  Cohort 2: sentinel (eligible day 45) on day 63, the
    patients of days 55 and 65 on day 70; windows end 91, 98, 98.  Cohort 3: sentinel (day 75) on
    day 98, days 85 and 95 on day 105; DLTs on days 126, 133, 133: settled on day 133.
    Waits: 18, 15, 5, 23, 20, 10 (91 days over 9 patients)."""
    result, counts = one_trial(ThreePlusThree(3), [0.0, 0.0, 1.0], deterministic(stagger_days=7.0))
    assert result.duration.mean == pytest.approx(133.0)
    assert result.mean_wait_days == pytest.approx(91 / 9)
    assert (counts["screened"], counts["enrolled"], counts["waiting_at_end"]) == (13, 12, 3)


def test_deterministic_path_with_safety_halt_and_deescalation():
    """As the first path, de-escalating, every DLT a SUSAR with a 10-day review.  Dose 3 is settled
    on day 121 and 3 more go to dose 2; the DLTs of days 121 and 123 (the pending patient's still
    counts) hold dosing until day 133, when the patients eligible on days 105, 115, 125 are dosed;
    their windows end on day 161: dose 2 has 0 of 6, it is the MTD."""
    conduct = deterministic(halt_probability=1.0, halt_days=10.0)
    result, counts = one_trial(ThreePlusThree(3, deescalate=True), [0.0, 0.0, 1.0], conduct)
    assert result.duration.mean == pytest.approx(161.0)
    assert result.oc.mean_n.tolist() == [3.0, 6.0, 3.0]
    assert counts["halts"] == 3
    assert result.mean_wait_days == pytest.approx((52 + 28 + 18 + 8) / 12)
    kinds = [r.kind for r in result.log]
    assert kinds.count("halt") == 3 and kinds.count("resume") == 1


@pytest.mark.parametrize(("rule", "end", "n_top"), [("earliest", 58.0, 2), ("filled", 60.0, 3)])
def test_decided_cohort_closes_its_slots(rule, end, n_top):
    """Arrivals every 10 days, no screening; dose 2 gives a DLT at the moment of dosing.  Dose 1
    completes on day 58; the patients of days 40 and 50 are dosed at dose 2 then, both have a DLT:
    2 DLTs settle the cohort.  "earliest" closes the third slot on day 58; "filled" first doses the
    patient of day 60."""
    conduct = Conduct(
        EVERY_10_DAYS,
        accrual_process="regular",
        dlt_onset="after_infusion",
        onset_days=0.0,
        cohort_decision=rule,
    )
    result, counts = one_trial(ThreePlusThree(2), [0.0, 1.0], conduct)
    assert result.duration.mean == pytest.approx(end)
    assert result.oc.mean_n.tolist() == [3.0, n_top]
    assert result.oc.mean_total_n == 3 + n_top
    assert result.oc.mean_dlt.tolist() == [0.0, n_top]
    assert counts["dosed"] == 3 + n_top
    assert result.oc.p_select.tolist() == [1.0, 0.0]


def test_poisson_accrual_loss_system():
    """No waiting at all (limit 0), no DLTs, three doses: each cohort waits for 3 eligible arrivals
    after it opens (Gamma(3, rate) days, rate = eligible patients per day), then its 28-day window,
    during which every arrival is lost.  With K = 3 cohorts: duration K (3 / rate + 28), variance
    3K / rate^2; lost ~ Poisson(K rate 28); screened (Wald) = accrual rate x duration, a quarter of
    them screen failures."""
    per_month, failure, window, k, n = 3.0, 0.25, 28.0, 3, 4_000
    conduct = Conduct(per_month, screen_failure=failure, max_wait_days=0.0, window_days=window)
    result = run_events(ThreePlusThree(k), [0.0] * k, conduct, n, seed=21)
    arrivals = per_month / DAYS_PER_MONTH
    rate = arrivals * (1 - failure)
    duration = k * (3 / rate + window)
    sd_duration = math.sqrt(3 * k) / rate
    assert_close("duration", result.duration.mean, duration, sd_duration / math.sqrt(n))
    counts = result.counts
    assert_close("lost", counts["lost_waiting"].mean, k * rate * window, math.sqrt(k * rate * window / n))
    # Screened and failures: compare to the simulated duration's expectation, with the delta-free
    # bound of their own SDs plus the duration's (both are sums over the same trials).
    for name, factor in (("screened", arrivals), ("screen_failures", arrivals * failure)):
        se = math.hypot(counts[name].sd, factor * sd_duration) / math.sqrt(n)
        assert_close(name, counts[name].mean, factor * duration, se)
    assert result.mean_wait_days == 0.0
    assert counts["dosed"].mean == 3 * k and counts["dosed"].sd == 0.0
    assert result.duration.q25 < result.duration.median < result.duration.q75 < result.duration.q90


def test_identities_between_counts():
    result = run_events(ThreePlusThree(6), P_TOX, halpc_like(), 300, seed=22)
    c = {name: s.mean for name, s in result.counts.items()}
    assert c["enrolled"] == pytest.approx(c["dosed"] + c["lost_waiting"] + c["waiting_at_end"])
    assert c["screened"] == pytest.approx(c["screen_failures"] + c["in_screening_at_end"] + c["enrolled"])
    assert c["replaced"] <= c["deaths"] + c["transplants"]
    # Every dosed patient either holds a slot when the cohort is decided or was replaced.
    assert c["dosed"] == pytest.approx(result.oc.mean_total_n + c["replaced"])


# -- competing risks and replacement ----------------------------------------------------------


def test_disease_course_reproduces_published_risks():
    course = DiseaseCourse(0.5)
    for aclf, risks in ((True, CANONIC_ACLF), (False, CANONIC_AD)):
        assert [course.risk(t, aclf) for t in RISK_DAYS] == pytest.approx(list(risks), abs=1e-12)
    assert course.window_risk(28.0) == pytest.approx(0.5 * 0.328 + 0.5 * 0.019)


def test_replacement_keeps_cohorts_full():
    """No DLTs, three doses, NCT05727722's 60-day window, half the patients with ACLF: each of the 9
    slots is filled after a geometric number of exits, so replaced ~ 9 q / (1 - q) with variance
    9 q / (1 - q)^2, q the probability of dying (or a transplant) within 60 days."""
    course = DiseaseCourse(0.5, transplant_share=0.4)
    conduct = Conduct.nct05727722(4.0, disease=course)
    n = 4_000
    result = run_events(ThreePlusThree(3), [0.0] * 3, conduct, n, seed=31)
    q = course.window_risk(60.0)
    slots = 9
    assert result.oc.mean_n.tolist() == [3.0, 3.0, 3.0] and result.oc.sd_total_n == 0.0
    replaced = result.counts["replaced"]
    assert_close("replaced", replaced.mean, slots * q / (1 - q), math.sqrt(slots * q / (1 - q) ** 2 / n))
    c = {name: s.mean for name, s in result.counts.items()}
    assert c["dosed"] == pytest.approx(slots + c["replaced"])
    assert c["deaths"] + c["transplants"] == pytest.approx(c["replaced"])
    exits = c["replaced"] * n
    assert_close("transplant share", c["transplants"] / c["replaced"], 0.4, math.sqrt(0.24 / exits))


# -- reproducibility, results, figure -----------------------------------------------------------


def halpc_like() -> Conduct:
    return Conduct.halpc(
        2.0,
        screen_failure=0.2,
        max_wait_days=14.0,
        stagger_days=7.0,
        halt_probability=1.0,
        halt_days=14.0,
        disease=DiseaseCourse(transplant_share=3 / 7),
    )


def test_same_seed_same_results_for_any_number_of_workers():
    design, n = ThreePlusThree(6), 1_100  # several tasks of whole blocks, so jobs=2 uses the pool
    done = []
    one = run_events(design, P_TOX, halpc_like(), n, seed=41, progress=done.append)
    two = run_events(design, P_TOX, halpc_like(), n, seed=41, jobs=2)
    assert one.to_dict(include_log=True) == two.to_dict(include_log=True)
    assert np.array_equal(one.durations, two.durations)
    assert done == sorted(done) and done[-1] == n
    other = run_events(design, P_TOX, halpc_like(), n, seed=42)
    assert not np.array_equal(one.durations, other.durations)


def test_json_and_log_of_one_trial(tmp_path):
    result = run_events(ThreePlusThree(6), P_TOX, halpc_like(), 1, seed=6)
    out = json.loads(json.dumps(result.to_dict(include_log=True), allow_nan=False))
    assert out["engine"] == "events" and set(out["counts"]) == set(COUNTS)
    assert set(out["duration_days"]) == {"mean", "sd", "se", "q25", "median", "q75", "q90"}
    assert out["conduct"]["disease"]["aclf_fraction"] == 15 / 24
    log = result.log
    assert [r.time for r in log] == sorted(r.time for r in log)
    end = next(r for r in log if r.kind == "end")
    assert end.time == result.duration.mean
    dosed = {r.patient for r in log if r.kind == "infusion"}
    assert len(dosed) == result.counts["dosed"].mean
    outcomes = [r.patient for r in log if r.kind in ("dlt", "death", "transplant", "window_complete")]
    assert sorted(outcomes) == sorted(dosed)  # one outcome per dosed patient
    assert sum(r.kind == "replaced" for r in log) == result.counts["replaced"].mean

    fig = timeline(log, title="one simulated trial")
    path = tmp_path / "timeline.png"
    fig.savefig(path, dpi=60)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


# -- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"accrual_per_month": 0.0}, r"accrual_per_month\[0\] = 0.0: allowed range is \[0.001, 10000\]"),
        ({"window_days": -1.0}, r"window_days = -1.0: allowed range is \[0, 3650\]"),
        ({"screen_failure": 1.0}, r"screen_failure = 1.0: allowed range is \[0, 0.99\]"),
        ({"stagger_days": 30.0}, r"stagger_days = 30.0: allowed range is \[0, 28\]"),
        ({"infusions": 0}, r"infusions = 0: allowed is a whole number >= 1"),
        ({"infusions": 3, "interval_days": 20.0}, r"interval_days = 20.0: allowed range is \[0, 14\]"),
        ({"max_wait_days": -1.0}, r"max_wait_days = -1.0: allowed range is \[0, inf\]"),
        ({"dlt_onset": "late"}, r"dlt_onset = 'late': allowed values are uniform, after_infusion, end"),
        ({"cohort_decision": "soon"}, r"cohort_decision = 'soon': allowed values are earliest, filled"),
        ({"halt_probability": 2.0}, r"halt_probability = 2.0: allowed range is \[0, 1\]"),
    ],
)
def test_conduct_errors_name_the_field_and_range(changes, message):
    with pytest.raises(ValueError, match=r"Conduct\." + message):
        Conduct(**({"accrual_per_month": 1.0} | changes))


def test_disease_course_errors():
    with pytest.raises(ValueError, match=r"DiseaseCourse.aclf_fraction = 1.5: allowed range is \[0, 1\]"):
        DiseaseCourse(1.5)
    with pytest.raises(ValueError, match=r"DiseaseCourse\.ad_risk"):
        DiseaseCourse(ad_risk=(0.2, 0.1))


def test_run_events_rejects_what_it_cannot_simulate():
    with pytest.raises(ValueError, match="3 doses but the design has 6"):
        run_events(ThreePlusThree(6), [0.1, 0.2, 0.3], INSTANTANEOUS, 10, seed=1)
    with pytest.raises(ValueError, match="course engine"):
        run_events(
            AcceleratedTitration.simon(4, 6), DoseToxicityTable(P_TOX, [0.1] * 6), INSTANTANEOUS, 10, 1
        )
    with pytest.raises(ValueError, match="grade-2"):
        run_events(AcceleratedTitration.simon(2, 6), P_TOX, INSTANTANEOUS, 10, seed=1)
    with pytest.raises(ValueError, match="n_trials must be at least 1"):
        run_events(ThreePlusThree(6), P_TOX, INSTANTANEOUS, 0, seed=1)


# -- deaths or transplants beside CANONIC -------------------------------------------------------


def test_exits_not_deaths_are_compared_with_canonic():
    """Without DLTs every dosed patient leaves the window by death or transplant with the disease
    course's window risk (CANONIC's transplant-free mortality for the ACLF share).  The dosed count
    depends on the exits (replacements), but by Wald's identities the pooled share of exits has mean
    p and variance p (1 - p) / (patients dosed in all).  Deaths are 1 - transplant_share of the exits.
    The text compares the deaths or transplants, never the deaths alone, with CANONIC."""
    from doseesc import conduct as conduct_module
    from doseesc.output import format_events

    course = DiseaseCourse(transplant_share=0.43)
    result = run_events(ThreePlusThree(6), [0.0] * 6, Conduct.halpc(2.0, disease=course), 3_000, seed=15)
    dosed = result.counts["dosed"].mean * 3_000
    exits = (result.counts["deaths"].mean + result.counts["transplants"].mean) * 3_000
    p = course.window_risk(28.0)
    assert_close("exits per dosed patient", exits / dosed, p, math.sqrt(p * (1 - p) / dosed))
    deaths = result.counts["deaths"].mean * 3_000
    assert_close("deaths per exit", deaths / exits, 0.57, math.sqrt(0.57 * 0.43 / exits))

    text = format_events(result)
    line = next(x for x in text.splitlines() if "CANONIC" in x)
    assert line.startswith("deaths or transplants in the 28-day window before any DLT: ")
    assert "CANONIC's transplant-free mortality (deaths or transplants) over 28 days for this mix" in line
    assert f"(62.5% with ACLF): {100 * p:.1f}%" in line
    assert sum("CANONIC" in x for x in text.splitlines()) == 1
    assert "CANONIC" not in format_events(run_events(ThreePlusThree(6), P_TOX, INSTANTANEOUS, 10, seed=1))

    # The overall mortality of Mahmud et al. is named for what it is, not as a CANONIC figure.
    assert conduct_module.ACLF_HIGH_BILIRUBIN_OVERALL_MORTALITY == (0.637, 0.763)
    assert not hasattr(conduct_module, "CANONIC_ACLF_HIGH_BILIRUBIN")
    doc = " ".join(_constant_doc("ACLF_HIGH_BILIRUBIN_OVERALL_MORTALITY =").lower().split())
    assert doc.startswith("overall mortality") and "not a canonic figure, and not transplant-free" in doc


def _constant_doc(name: str) -> str:
    """The docstring that follows a module constant in conduct.py (Python keeps none at run time)."""
    from pathlib import Path

    import doseesc.conduct

    text = Path(doseesc.conduct.__file__).read_text()
    return text[text.index(name) :].split('"""')[1]


def test_events_doc_compares_deaths_or_transplants_with_canonic():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "events.md").read_text()
    section = doc[doc.index("## Deaths, transplants and CANONIC") :]
    assert "the **deaths or transplants** that follow CANONIC's transplant-free" in section
    assert "deaths alone are 57% of it" in section
