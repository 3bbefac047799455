"""The text names a kind of DLT (grade 4) only when the toxicity model can give it; the JSON keeps
every kind tallied, zeros included."""

from __future__ import annotations

import numpy as np
import pytest

from doseesc.build import (
    ConductSpec,
    CourseSpec,
    DesignSpec,
    course_options,
    make_conduct,
    make_design,
    run_engine,
)
from doseesc.models.graded import GradedTable, LatentToxicity
from doseesc.output import can_give, format_result

P = np.array([0.05, 0.1, 0.2, 0.3, 0.5])
G2 = np.array([0.2, 0.2, 0.3, 0.3, 0.3])
LINE = "grade 4 per trial, by dose"


def graded(g4: np.ndarray) -> GradedTable:
    return GradedTable(p_grade2=G2, p_grade3=P - g4, p_grade4=g4)


def courses_in_calendar_time(model: GradedTable):
    design = make_design(DesignSpec("atd2"), 5)
    return run_engine(
        "events",
        design,
        model,
        trials=40,
        seed=3,
        conduct=make_conduct(ConductSpec((2.0,))),
        courses=course_options(CourseSpec(courses=3), design),
    )


def test_no_grade_4_line_over_courses_with_a_table_without_grade_4():
    model = graded(np.zeros(5))
    result = courses_in_calendar_time(model)
    assert list(result.oc.events) == ["grade 4"]
    assert LINE not in format_result("events", result, model=model)
    assert LINE in format_result("events", result)  # the model unknown: every kind tallied is shown
    counts = result.to_dict()["events"]["grade 4"]
    assert counts["mean_per_dose"] == [0.0] * 5 and counts["mean_total"] == 0.0


def test_the_grade_4_line_when_the_table_has_grade_4():
    model = graded(P / 2)
    result = courses_in_calendar_time(model)
    text = format_result("events", result, model=model)
    assert LINE in text
    assert result.oc.events["grade 4"].mean_total > 0  # half the DLTs are grade 4: some occur


def worst_grades(text: str) -> list[str]:
    """The grades named on the text's worst-grade line."""
    (line,) = [x for x in text.splitlines() if x.startswith("worst grade over courses: ")]
    return [part.split(":")[0] for part in line.removeprefix("worst grade over courses: ").split(", ")]


@pytest.mark.parametrize("engine", ["events", "courses"])
def test_the_worst_grades_name_grade_4_only_when_the_model_gives_it(engine):
    design = make_design(DesignSpec("atd2"), 5)
    options = course_options(CourseSpec(courses=3), design)
    conduct = make_conduct(ConductSpec((2.0,))) if engine == "events" else None
    for g4, shown in ((np.zeros(5), ["0-1", "2", "3"]), (P / 2, ["0-1", "2", "3", "4"])):
        model = graded(g4)
        result = run_engine(engine, design, model, trials=40, seed=3, conduct=conduct, courses=options)
        assert worst_grades(format_result(engine, result, model=model)) == shown
        assert worst_grades(format_result(engine, result)) == ["0-1", "2", "3", "4"]  # model unknown


@pytest.mark.parametrize(
    ("model", "gives"),
    [
        (graded(np.zeros(5)), False),
        (graded(np.array([0, 0, 0, 0, 0.01])), True),
        (
            LatentToxicity.ladder(
                1.0, 5, alpha=0.0, sigma_patient=0.3, sigma_course=0.2, thresholds=(1, 2, 3)
            ),
            True,
        ),
    ],
)
def test_can_give_reads_the_models_probability_of_grade_4(model, gives):
    assert can_give(model, "grade 4") is gives
    assert can_give(None, "grade 4") is True


def test_the_command_line_text_follows_the_model(capsys):
    """``doseesc simulate`` passes its model to the text: no grade-4 line from a graded table
    without grade 4 (several courses in calendar time), the line with ``--p-grade4``."""
    from doseesc.cli import main

    base = [
        "simulate", "--design", "atd2", "--p-tox", "0.05,0.1,0.2,0.3,0.5",
        "--p-grade2", "0.2,0.2,0.3,0.3,0.3", "--engine", "events", "--courses", "3",
        "--accrual-per-month", "2", "--trials", "40", "--seed", "3",
    ]  # fmt: skip
    assert main(base) == 0
    assert LINE not in capsys.readouterr().out
    assert main([*base, "--p-grade4", "0.01,0.02,0.05,0.1,0.2"]) == 0
    assert LINE in capsys.readouterr().out
