"""Dose-transition pathways read from the compiled table, against hand-worked 3+3 paths."""

from __future__ import annotations

import json

import numpy as np
import pytest

from doseesc.cli import main
from doseesc.designs import AcceleratedTitration, ThreePlusThree
from doseesc.rules import pathways

P = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7]


def binom3(p: float, k: int) -> float:
    return [1, 3, 3, 1][k] * p**k * (1 - p) ** (3 - k)


def test_two_cohorts_of_the_3_plus_3_by_hand():
    paths = pathways(ThreePlusThree(6), 2, P)
    as_text = {tuple((s.dose, s.dlt) for s in p.steps): (p.selected, p.probability) for p in paths}
    # 0/3 then 0/3: on to dose 3; 0/3 then 2/3 at dose 2: dose 1 selected; 2/3 at once: none.
    assert as_text[((0, 0), (1, 0))] == (None, pytest.approx(binom3(0.05, 0) * binom3(0.1, 0)))
    assert as_text[((0, 0), (1, 2))] == (0, pytest.approx(binom3(0.05, 0) * binom3(0.1, 2)))
    assert as_text[((0, 2),)] == (-1, pytest.approx(binom3(0.05, 2)))
    assert as_text[((0, 1), (0, 0))][0] is None  # 1/3 then 0/3 (1/6): escalate
    assert sum(p.probability for p in paths) == pytest.approx(1.0, abs=1e-12)
    assert len(paths) == 4 * 4 - 2 * 3  # a first 2/3 or 3/3 ends the trial


def test_grade_2_is_shown_only_where_the_next_step_depends_on_it():
    design = AcceleratedTitration.nct05727722(4)
    paths = pathways(design, 2, [0.05, 0.1, 0.25, 0.4], [0.1, 0.1, 0.15, 0.2])
    assert sum(p.probability for p in paths) == pytest.approx(1.0, abs=1e-12)
    first = {p.steps[0] for p in paths}
    assert {s.g2 for s in first if s.dlt == 0} == {0, 1}  # the trigger counts grade 2
    assert all(s.g2 == -1 for p in paths for s in p.steps if s.size > 1)  # the 3+3 phase ignores it
    with pytest.raises(ValueError, match="p_grade2 is required"):
        pathways(design, 2, [0.05, 0.1, 0.25, 0.4])


def test_rules_command_prints_pathways_in_every_format(capsys):
    assert (
        main(
            [
                "rules",
                "--design",
                "3+3",
                "--pathways",
                "2",
                "--p-tox",
                ",".join(map(str, P)),
                "--format",
                "json",
            ]
        )
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert np.isclose(sum(r["probability"] for r in rows), 1.0)
    assert main(["rules", "--design", "3+3", "--pathways", "1", "--format", "markdown"]) == 0
    assert capsys.readouterr().out.startswith("| pathway | cohorts | selected | probability |")
    with pytest.raises(SystemExit):
        main(["rules", "--design", "3+3", "--max-n", "30"])
    assert "no boundary table" in capsys.readouterr().err
