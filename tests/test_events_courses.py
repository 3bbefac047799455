"""Accelerated titration over several courses in calendar time (the events engine with ``courses=``).

Reference: the course engine (doseesc.engines.courses), whose periods are a cohort's first course
beside every earlier patient's next course.  With patients always waiting (fast accrual, no
screening), DLTs known at the end of the window and decisions on complete windows, each cohort's
window in calendar time is such a period, so the two engines have the same operating
characteristics: figures agree within Z = 4 standard errors of their difference, the standard
errors from the course engine's SDs (for the events engine: the same SD over its fewer trials).
Deterministic trials (no toxicity, or a grade 2 certain at one level) are checked exactly, as the
course engine's own tests check them (tests/test_titration.py).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from doseesc.conduct import Conduct
from doseesc.designs import ThreePlusThree
from doseesc.designs.titration import AcceleratedTitration
from doseesc.engines.courses import CourseOptions, simulate_courses
from doseesc.engines.events import run_events
from doseesc.models.graded import GradedTable
from doseesc.output import format_events

Z = 4.0
GRADED = GradedTable(
    p_grade2=[0.1, 0.15, 0.2, 0.25, 0.2, 0.15],
    p_grade3=[0.04, 0.08, 0.15, 0.22, 0.35, 0.5],
    p_grade4=[0.01, 0.02, 0.05, 0.08, 0.15, 0.2],
)
PERIODS = Conduct(300.0, dlt_onset="end", cohort_decision="complete")
"""Patients always waiting (300 a month, none lost), outcomes at the window's end, complete windows."""
THREE = CourseOptions(courses=3, intrapatient=True)


@pytest.mark.parametrize(
    ("design", "options"),
    [
        (AcceleratedTitration.simon(2, 6), THREE),
        (AcceleratedTitration.simon(4, 6), THREE),
        (
            AcceleratedTitration.simon(4, 6, deescalate=True),
            CourseOptions(3, intrapatient=True, on_dlt="reduce"),
        ),
    ],
    ids=["atd2", "atd4", "atd4-reduce"],
)
def test_operating_characteristics_match_the_course_engine(design, options):
    n_ev, n_c = 3_000, 50_000
    ev = run_events(design, GRADED, PERIODS, n_ev, seed=31, courses=options)
    cr = simulate_courses(design, GRADED, n_c, seed=32, options=options)
    oc, ref = ev.oc, cr.oc
    both = math.sqrt(1 / n_ev + 1 / n_c)

    def close(name, a, b, sd):
        a, b, sd = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (a, b, sd))
        assert np.all(np.abs(a - b) <= Z * sd * both + 1e-12), f"{name}: {a} vs {b} (SE {sd * both})"

    close("p_select", oc.p_select, ref.p_select, np.sqrt(ref.p_select * (1 - ref.p_select)))
    close("p_none", oc.p_none, ref.p_none, math.sqrt(ref.p_none * (1 - ref.p_none)))
    close("mean_n", oc.mean_n, ref.mean_n, ref.sd_n)
    close("mean_dlt", oc.mean_dlt, ref.mean_dlt, ref.sd_dlt)
    close("mean_total_n", oc.mean_total_n, ref.mean_total_n, ref.sd_total_n)
    close("mean_total_dlt", oc.mean_total_dlt, ref.mean_total_dlt, ref.sd_total_dlt)
    per_trial = math.sqrt(n_c)  # the course engine's SEs back to per-trial SDs
    c = ev.courses
    close(
        "courses per patient",
        c.mean_courses_per_patient,
        cr.mean_courses_per_patient,
        cr.se_mean_courses_per_patient * per_trial,
    )
    close("worst grade", c.worst_grade, cr.worst_grade, cr.se_worst_grade * per_trial)
    close("patients", c.mean_patients, cr.mean_patients, cr.se_mean_patients * per_trial)


def test_a_trial_without_toxicity_escalates_each_patient_every_course():
    """Design 2 over 4 levels, 3 courses, no toxicity: four accelerated patients (levels 0-3), each
    escalated one level per course up to the top; the top is topped up with 2 more and passes: 6
    patients, 18 courses, all worst grade 0-1 (the course engine's own deterministic trial)."""
    zero = np.zeros(4)
    r = run_events(
        AcceleratedTitration.simon(2, 4), GradedTable(zero, zero, zero), PERIODS, 20, seed=1, courses=THREE
    )
    c = r.courses
    assert c.mean_patients == 6 and c.se_mean_patients == 0 and c.mean_courses_per_patient == 3
    np.testing.assert_array_equal(c.worst_grade, [1, 0, 0, 0])
    np.testing.assert_array_equal(r.oc.p_select, [0, 0, 0, 1])
    assert r.oc.extras["mean_accelerated_patients"] == 4
    # Patient by patient (the first trial's log): courses 28 days apart, one level up each time.
    courses: dict[int, list[tuple[float, int]]] = {}
    for x in r.log:
        if x.kind == "infusion":
            courses.setdefault(x.patient, []).append((x.time, x.dose))
    first = sorted(courses.values())[0]
    t0 = first[0][0]
    assert [(round(t - t0, 9), d) for t, d in first] == [(0.0, 0), (28.0, 1), (56.0, 2)]
    assert all(len(v) == 3 for v in courses.values()) and len(courses) == 6


def test_design_4_reads_grade2_of_later_courses_design_2_does_not():
    """Grade 2 certain at level 1 only.  Patient A at level 0; then B at level 1 shows grade 2 in
    course 1 while A, escalated to level 1, shows grade 2 in course 2: design 4 counts both and ends
    its accelerated phase at level 1; design 2 counts B only and climbs on to the top."""
    g2 = np.array([0.0, 1.0, 0.0, 0.0])
    model = GradedTable(g2, np.zeros(4), np.zeros(4))
    d4 = run_events(
        AcceleratedTitration(4, step=1, any_course=True), model, PERIODS, 20, seed=2, courses=THREE
    )
    d2 = run_events(AcceleratedTitration(4, step=1), model, PERIODS, 20, seed=2, courses=THREE)
    np.testing.assert_array_equal(d4.oc.extras["p_switch"], [0, 1, 0, 0])
    np.testing.assert_array_equal(d2.oc.extras["p_switch"], [0, 0, 0, 1])
    np.testing.assert_array_equal(d4.oc.p_select, [0, 0, 0, 1])
    assert d4.oc.extras["mean_accelerated_patients"] == 2 and d2.oc.extras["mean_accelerated_patients"] == 4


def test_same_seed_same_courses_for_any_number_of_workers():
    design, n = AcceleratedTitration.simon(4, 6), 1_100
    conduct = Conduct(4.0, screening_days=7.0, dlt_onset="uniform")  # slow accrual, early decisions
    one = run_events(design, GRADED, conduct, n, seed=5, courses=THREE)
    two = run_events(design, GRADED, conduct, n, seed=5, courses=THREE, jobs=2)
    assert one.to_dict(include_log=True) == two.to_dict(include_log=True)
    text = json.dumps(one.to_dict(), allow_nan=False)
    assert json.loads(text)["mean_courses_per_patient"] == one.courses.mean_courses_per_patient
    assert "courses per patient" in format_events(one)


def test_what_the_course_mode_refuses():
    with pytest.raises(ValueError, match=r"reads later courses.*courses="):
        run_events(AcceleratedTitration.simon(4, 6), GRADED, PERIODS, 10, seed=1)
    with pytest.raises(
        ValueError, match="courses: the events engine draws each course's worst grade from a graded"
    ):
        run_events(ThreePlusThree(6), [0.1] * 6, PERIODS, 10, seed=1, courses=THREE)


def test_exits_and_halts_over_several_courses():
    """Over several courses a patient's exit may come in any course: the text gives the share of
    dosed patients who died or had a transplant while on study, without CANONIC's one-window figure;
    halts follow DLTs before the final decision only (no one is left to stop after it)."""
    from doseesc.conduct import DiseaseCourse

    conduct = Conduct(4.0, disease=DiseaseCourse(transplant_share=0.43), halt_probability=1.0, halt_days=7.0)
    r = run_events(AcceleratedTitration.simon(2, 6), GRADED, conduct, 300, seed=9, courses=THREE)
    text = format_events(r)
    assert "deaths or transplants while on study, over the courses: " in text and "CANONIC" not in text
    # A 3+3 where DLTs are likely: the second DLT of the first cohort ends the trial (no dose), often
    # before the third patient's DLT, which then starts no review.
    toxic = GradedTable(np.zeros(3), np.full(3, 0.7), np.zeros(3))
    fast = Conduct(300.0, halt_probability=1.0, halt_days=7.0)
    late_dlts = 0
    for seed in range(10):  # one trial each: its log
        one = run_events(ThreePlusThree(3), toxic, fast, 1, seed=seed, courses=THREE)
        end = next(x.time for x in one.log if x.kind == "end")
        halts = [x.time for x in one.log if x.kind == "halt"]
        assert len(halts) == one.counts["halts"].mean and all(t <= end for t in halts)
        late_dlts += sum(x.kind == "dlt" and x.time > end for x in one.log)
    assert late_dlts > 0  # DLTs after the final decision happened
