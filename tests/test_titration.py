"""Accelerated titration designs: closed forms, the 3+3 as a special case, the NCT05727722 rule,
every preset against an independent scalar reference (``tests/titration_oracle.py``), no named dose
below a 3+3 cohort unless Simon's literal rule is asked for, Monte Carlo against exact, and the
course engine's bookkeeping on hand-made histories."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm
from titration_oracle import Titration, exact_titration

from doseesc import registry
from doseesc.designs import ThreePlusThree, compile_design
from doseesc.designs.titration import AcceleratedTitration
from doseesc.engines import exact, simulate
from doseesc.engines.courses import CourseOptions, next_course, simulate_courses
from doseesc.models import DoseToxicityTable
from doseesc.models.graded import GradedTable, LatentToxicity

P6 = np.array([0.05, 0.1, 0.2, 0.3, 0.5, 0.7])
NO_G2 = np.zeros(6)


def switch_closed_form(p: np.ndarray, step: int) -> np.ndarray:
    """P(accelerated phase ends at each dose) with no grade-2 toxicity: the path visits
    0, step, 2*step, ... and then the top; it ends at the first DLT, or at the top regardless."""
    k = len(p)
    path = [*range(0, k - 1, step), k - 1]
    out = np.zeros(k)
    survive = 1.0
    for d in path[:-1]:
        out[d] = survive * p[d]
        survive *= 1 - p[d]
    out[k - 1] = survive
    return out


@pytest.mark.parametrize("step", [1, 2])
def test_switch_dose_closed_form_exact_and_monte_carlo(step):
    design = AcceleratedTitration(6, step=step)
    expected = switch_closed_form(P6, step)
    oc = exact(design, P6, NO_G2)
    np.testing.assert_allclose(oc.extras["p_switch"], expected, rtol=0, atol=1e-15)
    path = [*range(0, 5, step), 5]
    mean_patients = sum(expected[d] * (i + 1) for i, d in enumerate(path))
    assert oc.extras["mean_accelerated_patients"] == pytest.approx(mean_patients, abs=1e-13)

    mc = simulate(design, DoseToxicityTable(P6, NO_G2), 200_000, seed=11)
    se = np.sqrt(expected * (1 - expected) / mc.n_trials)
    # 4 standard errors of a binomial proportion; exact equality where the SE is zero.
    assert np.all(np.abs(np.asarray(mc.extras["p_switch"]) - expected) <= 4 * se)
    sd = oc.extras["sd_accelerated_patients"]
    assert abs(mc.extras["mean_accelerated_patients"] - mean_patients) <= 4 * sd / np.sqrt(mc.n_trials)


def test_second_grade2_trigger_is_negative_binomial():
    """With no DLT and grade 2 with probability q, the phase ends with the 2nd grade-2 patient:
    P(end at the j-th patient) = (j - 1) q^2 (1 - q)^(j - 2), unless the top comes first."""
    q = 0.3
    k = 7
    design = AcceleratedTitration(k, step=1)
    oc = exact(design, np.zeros(k), np.full(k, q))
    expected = np.array([(j - 1) * q**2 * (1 - q) ** (j - 2) for j in range(1, k)] + [0.0])
    expected[-1] = 1 - expected.sum()
    np.testing.assert_allclose(oc.extras["p_switch"], expected, atol=1e-15)


def test_trigger_certain_at_the_first_dose_is_the_3_plus_3():
    """If the first patient triggers for sure (a DLT or, with a one-event trigger, grade 2), the
    dose is topped up to 3 and the rule is the 3+3's: same exact operating characteristics."""
    p = np.array([0.1, 0.2, 0.35, 0.5])
    g2 = np.array([0.9, 0.3, 0.2, 0.1])  # p + g2 = 1 at the first dose
    for deesc, top in [(False, False), (True, False), (True, True)]:
        atd = AcceleratedTitration(4, step=1, grade2_trigger=1, deescalate=deesc, expand_top=top)
        a = exact(atd, p, g2)
        b = exact(ThreePlusThree(4, deescalate=deesc, expand_top=top), p)
        for name in ("p_select", "mean_n", "mean_dlt", "sd_n", "sd_dlt"):
            np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=1e-14, err_msg=name)
        assert a.p_none == pytest.approx(b.p_none, abs=1e-14)
        np.testing.assert_allclose(a.total_n_pmf, b.total_n_pmf, atol=1e-14)
        np.testing.assert_allclose(a.extras["p_switch"], [1, 0, 0, 0], atol=1e-15)


def walk(design) -> list[tuple[int, list[int], list[int]]]:
    """Every trial path of the tabulated rule as (selected, n per dose, first-course DLTs per dose)."""
    table = compile_design(design)
    accelerated = design.initial_phase(table.states)
    out = []

    def go(state, n, y):
        size, dose = table.size[state], table.dose[state]
        for dlt in range(size + 1):
            # Grade 2 only matters to the accelerated phase's trigger; the 3+3 phase ignores it.
            if not accelerated[state]:
                assert len({int(table.advance(state, dlt, g2=g)) for g in range(size + 1 - dlt)}) == 1
            for g2 in range(size + 1 - dlt) if accelerated[state] else [0]:
                nxt = table.advance(state, dlt, g2=g2)
                n2, y2 = list(n), list(y)
                n2[dose] += size
                y2[dose] += dlt
                if nxt >= table.n_live:
                    out.append((table.selected(nxt), n2, y2))
                else:
                    go(nxt, n2, y2)

    go(0, [0] * design.n_doses, [0] * design.n_doses)
    return out


def test_nct05727722_hybrid_recommends_only_doses_with_at_most_1_dlt_in_6():
    paths = walk(AcceleratedTitration.nct05727722())
    assert len(paths) > 100
    selected = [(k, n[k], y[k]) for k, n, y in paths if k >= 0]
    assert selected and all(n >= 6 and y <= 1 for _, n, y in selected)
    # a dose found too toxic (>= 2 DLTs) is never recommended and no dose above it either
    for k, _, y in paths:
        toxic = [d for d in range(4) if y[d] >= 2]
        if toxic:
            assert k < min(toxic)


ATD_PRESETS = {
    "atd2": Titration(step=1),
    "atd3": Titration(step=2),
    "atd4": Titration(step=2),  # single course: design 4's later-course trigger never fires
    "nct05727722": Titration(step=1, deescalate=True, expand_top=True),
}


@st.composite
def graded_curves(draw):
    """An increasing P(DLT) curve over 1-6 doses and a grade-2 probability per dose (p + g2 <= 1)."""
    k = draw(st.integers(1, 6))
    unit = st.floats(0, 1, allow_nan=False)
    p = np.sort(np.array(draw(st.lists(unit, min_size=k, max_size=k))))
    g2 = np.array(draw(st.lists(unit, min_size=k, max_size=k))) * (1 - p)
    return p, g2


@settings(max_examples=25, deadline=None)
@given(curve=graded_curves())
def test_every_atd_preset_matches_the_reference_and_names_no_under_treated_dose(curve):
    """Every registered accelerated titration preset, with its defaults, gives the reference's
    exact selection probabilities, and the reference (which keeps every dose's patients) names a
    dose that fewer than 3 patients received with probability 0."""
    p, g2 = curve
    for name, rule in ATD_PRESETS.items():
        oc = exact(registry.design(name).build(len(p)), p, g2)
        ref = exact_titration(rule, list(p), list(g2))
        np.testing.assert_allclose(oc.p_select, ref.p_select, rtol=0, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(oc.mean_n, ref.mean_n, rtol=0, atol=1e-11, err_msg=name)
        assert oc.p_none == pytest.approx(ref.p_none, abs=1e-12), name
        assert ref.p_under_treated == 0.0, name


@settings(max_examples=25, deadline=None)
@given(curve=graded_curves(), step=st.integers(1, 2))
def test_simon_literal_rule_matches_the_reference_and_can_name_under_treated_doses(curve, step):
    p, g2 = curve
    oc = exact(AcceleratedTitration(len(p), step=step, simon_literal=True), p, g2)
    ref = exact_titration(Titration(step=step, literal=True), list(p), list(g2))
    np.testing.assert_allclose(oc.p_select, ref.p_select, rtol=0, atol=1e-12)
    np.testing.assert_allclose(oc.mean_n, ref.mean_n, rtol=0, atol=1e-11)
    assert oc.p_none == pytest.approx(ref.p_none, abs=1e-12)


def test_a_skipped_dose_is_treated_before_it_is_named():
    """The issue's example: design 3 over p = 0, 0, 1, 1, 1 without grade 2.  The accelerated phase
    treats dose 1 and jumps to dose 3, whose DLT is certain: 3 patients there, too toxic.  Read
    literally the MTD is dose 2, which nobody received; by default dose 2 gets a cohort of 3 (0/3
    certain) and is named with 3 patients."""
    p, g2 = np.array([0, 0, 1, 1, 1.0]), np.zeros(5)
    literal = exact(AcceleratedTitration.simon(3, 5, simon_literal=True), p, g2)
    default = exact(AcceleratedTitration.simon(3, 5), p, g2)
    np.testing.assert_array_equal(literal.p_select, [0, 1, 0, 0, 0])
    np.testing.assert_array_equal(literal.mean_n, [1, 0, 3, 0, 0])
    np.testing.assert_array_equal(default.p_select, [0, 1, 0, 0, 0])
    np.testing.assert_array_equal(default.mean_n, [1, 3, 3, 0, 0])
    assert exact_titration(Titration(step=2, literal=True), list(p), list(g2)).p_under_treated == 1.0


@pytest.mark.parametrize("max_n", [3, 4, 6, 9])
@pytest.mark.parametrize("design", [2, 3])
def test_a_trial_cut_short_by_max_n_names_only_a_dose_with_a_cohort(design, max_n):
    """Over every path of the rule (so for every curve): a dose named when max_n ends the trial
    holds at least 3 patients; Simon's literal rule can name one that holds fewer."""
    default = walk(AcceleratedTitration.simon(design, 5, max_n=max_n))
    assert all(n[k] >= 3 for k, n, _ in default if k >= 0)
    literal = walk(AcceleratedTitration.simon(design, 5, max_n=max_n, simon_literal=True))
    assert any(n[k] < 3 for k, n, _ in literal if k >= 0)


def test_single_patient_cohorts_until_the_trigger_then_cohorts_of_three():
    table = compile_design(AcceleratedTitration.nct05727722())
    s = 0
    for d in range(3):  # three quiet patients climb one level each
        assert (table.dose[s], table.size[s]) == (d, 1)
        s = table.advance(s, 0, g2=0)
    assert (table.dose[s], table.size[s]) == (3, 1)
    s = table.advance(s, 1, g2=0)  # DLT at the top: top up to 3 with him counted
    assert (table.dose[s], table.size[s], table.n_before[s], table.y_before[s]) == (3, 2, 1, 1)


@pytest.mark.parametrize(
    "design", [AcceleratedTitration.simon(2, 6), AcceleratedTitration.simon(3, 6, deescalate=True)]
)
def test_monte_carlo_within_4_se_of_exact_with_grade2(design):
    g2 = np.array([0.1, 0.15, 0.2, 0.25, 0.2, 0.15])
    e = exact(design, P6, g2)
    m = simulate(design, DoseToxicityTable(P6, g2), 200_000, seed=5)
    assert np.all(np.abs(m.p_select - e.p_select) <= 4 * np.sqrt(e.p_select * (1 - e.p_select) / m.n_trials))
    assert np.all(np.abs(m.mean_n - e.mean_n) <= 4 * e.sd_n / np.sqrt(m.n_trials))
    assert abs(m.mean_total_n - e.mean_total_n) <= 4 * e.sd_total_n / np.sqrt(m.n_trials)


def test_exact_requires_grade2_for_designs_that_count_it():
    with pytest.raises(ValueError, match="p_grade2"):
        exact(AcceleratedTitration(3), [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="grade-2"):
        simulate(AcceleratedTitration(3), [0.1, 0.2, 0.3], 10, seed=1)


def test_latent_model_first_course_probabilities_are_normal_cdfs():
    lat = LatentToxicity.ladder(
        1.0, 5, alpha=0.5, sigma_patient=0.3, sigma_course=0.4, thresholds=(0.5, 1.0, 1.5)
    )
    scale = np.hypot(0.3, 0.4)
    logd = np.log(1.4 ** np.arange(5))
    np.testing.assert_allclose(lat.mean_probabilities(), norm.cdf((logd - 1.0) / scale), atol=1e-15)
    np.testing.assert_allclose(
        lat.mean_grade2_probabilities(),
        norm.cdf((logd - 0.5) / scale) - norm.cdf((logd - 1.0) / scale),
        atol=1e-15,
    )


def test_latent_patients_in_single_course_monte_carlo_match_exact_on_averages():
    lat = LatentToxicity.ladder(
        1.0, 6, alpha=0.0, sigma_patient=0.4, sigma_course=0.3, thresholds=(0.3, 0.9, 1.4)
    )
    design = AcceleratedTitration.simon(2, 6)
    e = exact(design, lat.mean_probabilities(), lat.mean_grade2_probabilities())
    m = simulate(design, lat, 200_000, seed=8)
    assert np.all(np.abs(m.p_select - e.p_select) <= 4 * np.sqrt(e.p_select * (1 - e.p_select) / m.n_trials))
    assert np.all(np.abs(m.mean_n - e.mean_n) <= 4 * e.sd_n / np.sqrt(m.n_trials))


GRADED = GradedTable(
    p_grade2=[0.1, 0.15, 0.2, 0.25, 0.2, 0.15],
    p_grade3=[0.04, 0.08, 0.15, 0.22, 0.35, 0.5],
    p_grade4=[0.01, 0.02, 0.05, 0.08, 0.15, 0.2],
)


@pytest.mark.parametrize(
    "design",
    [ThreePlusThree(6), AcceleratedTitration.simon(2, 6), AcceleratedTitration.simon(4, 6, deescalate=True)],
)
def test_course_engine_with_one_course_matches_exact(design):
    e = exact(design, GRADED.mean_probabilities(), GRADED.mean_grade2_probabilities())
    r = simulate_courses(design, GRADED, 100_000, seed=3)
    m = r.oc
    assert np.all(np.abs(m.p_select - e.p_select) <= 4 * np.sqrt(e.p_select * (1 - e.p_select) / m.n_trials))
    assert np.all(np.abs(m.mean_n - e.mean_n) <= 4 * e.sd_n / np.sqrt(m.n_trials))
    assert r.mean_courses_per_patient == 1.0
    # One course: worst grade is the first course's grade; pooled fractions within 4 SE of
    # E[patients at d] P(grade | d) / E[patients].
    probs = np.stack(
        [1 - GRADED.p_grade2 - GRADED.mean_probabilities(), GRADED.p_grade2, GRADED.p_grade3, GRADED.p_grade4]
    )
    expected = probs @ e.mean_n / e.mean_total_n
    assert np.all(np.abs(r.worst_grade - expected) <= 4 * r.se_worst_grade + 1e-12)


def test_next_course_rule_on_hand_made_histories():
    opts = CourseOptions(courses=3, intrapatient=True, on_dlt="reduce")
    level = np.array([0, 2, 2, 3, 1, -1])
    grade = np.array([1, 2, 3, 1, 4, 0])  # 1 = grade 0-1; 0 = not on study
    given = np.array([1, 1, 1, 1, 3, 0])
    nxt, leave = next_course(level, grade, given, 1, opts, top=3)
    # 0-1 escalates (capped at the top); 2 stays; 3-4 reduces; the 3rd course ends treatment.
    np.testing.assert_array_equal(nxt, [1, 2, 1, 3, -1, -1])
    np.testing.assert_array_equal(leave, [False, False, False, False, True, False])
    nxt, leave = next_course(level, grade, given, 2, CourseOptions(courses=3, intrapatient=True), top=3)
    np.testing.assert_array_equal(nxt, [2, 2, -1, 3, -1, -1])  # double steps; a DLT goes off study
    np.testing.assert_array_equal(leave, [False, False, True, False, True, False])
    nxt, _ = next_course(level, grade, given, 1, CourseOptions(courses=3), top=3)
    np.testing.assert_array_equal(nxt, [0, 2, -1, 3, -1, -1])  # no intrapatient escalation


def test_course_engine_on_a_deterministic_trial():
    """No toxicity at all, design 2 over 4 levels, 3 courses with intrapatient escalation: four
    accelerated patients (levels 0-3), the top is topped up with 2 more and passes; 6 patients,
    18 courses, all worst grade 0-1, the phase ends at the top."""
    zero = np.zeros(4)
    r = simulate_courses(
        AcceleratedTitration.simon(2, 4),
        GradedTable(zero, zero, zero),
        50,
        seed=1,
        options=CourseOptions(courses=3, intrapatient=True),
    )
    assert r.mean_patients == 6 and r.se_mean_patients == 0
    assert r.mean_courses_per_patient == 3
    np.testing.assert_array_equal(r.worst_grade, [1, 0, 0, 0])
    np.testing.assert_array_equal(r.oc.p_select, [0, 0, 0, 1])
    np.testing.assert_array_equal(r.p_switch, [0, 0, 0, 1])
    assert r.mean_accelerated == 4


def test_design_4_counts_grade2_in_later_courses_design_2_does_not():
    """Grade 2 certain at level 1 only.  Period 0: A at 0.  Period 1: B at 1 has grade 2 (first
    course) and A, escalated to 1, has grade 2 in course 2.  Design 4 counts both: the phase ends
    at level 1.  Design 2 counts only B and climbs on to the top, where it switches."""
    g2 = np.array([0.0, 1.0, 0.0, 0.0])
    model = GradedTable(g2, np.zeros(4), np.zeros(4))
    opts = CourseOptions(courses=3, intrapatient=True)
    d4 = simulate_courses(AcceleratedTitration(4, step=1, any_course=True), model, 20, seed=2, options=opts)
    d2 = simulate_courses(AcceleratedTitration(4, step=1), model, 20, seed=2, options=opts)
    np.testing.assert_array_equal(d4.p_switch, [0, 1, 0, 0])
    np.testing.assert_array_equal(d2.p_switch, [0, 0, 0, 1])
    np.testing.assert_array_equal(d4.oc.p_select, [0, 0, 0, 1])
    assert d4.mean_accelerated == 2 and d2.mean_accelerated == 4


def test_course_engine_is_bit_identical_across_chunks_and_jobs():
    lat = LatentToxicity.ladder(
        1.0, 8, alpha=1.0, sigma_patient=0.4, sigma_course=0.3, thresholds=(0.6, 1.2, 1.7)
    )
    opts = CourseOptions(courses=3, intrapatient=True, on_dlt="reduce", low_level=3)
    design = AcceleratedTitration.simon(4, 8)
    n = 2 * 16384 + 517
    a = simulate_courses(design, lat, n, seed=9, options=opts, chunk_trials=16384)
    b = simulate_courses(design, lat, n, seed=9, options=opts, chunk_trials=4 * 16384, jobs=2)
    assert a.to_dict() == b.to_dict()
    c = simulate_courses(design, lat, n, seed=10, options=opts)
    assert c.to_dict() != a.to_dict()


def test_design_validation():
    with pytest.raises(ValueError, match="step"):
        AcceleratedTitration(4, step=0)
    with pytest.raises(ValueError, match="stop_n_at_dose must be an integer from 3"):
        AcceleratedTitration(4, stop_n_at_dose=2)
    assert AcceleratedTitration(4, stop_n_at_dose=2, simon_literal=True).stop_n_at_dose == 2
    with pytest.raises(ValueError, match="design"):
        AcceleratedTitration.simon(5, 4)
    with pytest.raises(ValueError, match="courses"):
        CourseOptions(courses=0)
    with pytest.raises(ValueError, match="thresholds"):
        LatentToxicity.ladder(1.0, 3, alpha=0, sigma_patient=1, sigma_course=1, thresholds=(1, 0.5, 2))


def test_simulation_engines_report_progress_without_changing_results():
    seen_mc: list[int] = []
    a = simulate(
        ThreePlusThree(4),
        [0.1, 0.2, 0.3, 0.4],
        3 * 16384 + 5,
        seed=1,
        chunk_trials=16384,
        progress=seen_mc.append,
    )
    b = simulate(ThreePlusThree(4), [0.1, 0.2, 0.3, 0.4], 3 * 16384 + 5, seed=1)
    assert seen_mc == [16384, 2 * 16384, 3 * 16384, 3 * 16384 + 5]
    assert a.to_dict() == b.to_dict()
    seen_courses: list[int] = []
    simulate_courses(
        ThreePlusThree(6), GRADED, 20_000, seed=1, chunk_trials=16384, progress=seen_courses.append
    )
    assert seen_courses == [16384, 20_000]
