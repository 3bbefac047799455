"""The interval designs Keyboard, mTPI-2 and i3+3: their decision tables for target 0.3, the exact
engine against the independent Fraction oracle (``interval_oracle.py``, written from the papers'
definitions), Monte Carlo against exact, and parameter validation.

Monte Carlo estimates must lie within 4 standard errors (taken from the simulated result) of the
exact values; seeds are fixed.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from interval_oracle import Rule, decision, eliminated, exact_oracle

from doseesc.designs.interval import DECISIONS, ESCALATE, MTPI2, STAY, I3plus3, Keyboard
from doseesc.engines import exact, simulate

TOL = 1e-12
DESIGNS = {"keyboard": Keyboard, "mtpi2": MTPI2, "i3+3": I3plus3}
LETTERS = dict(zip(DECISIONS, "ESDU", strict=True))  # U: eliminate (the papers' "DU")

# Target 0.3, EI [0.25, 0.35]: one letter per y = 0 .. n.  mTPI-2's table (Guo et al. 2017) and
# Keyboard's coincide; i3+3 (Liu, Wang & Ji 2020) stays at 1/1, 1/2 and 2/5, where (y - 1)/n is
# below the EI.  Elimination (n >= 3, P(p > 0.3) > 0.95) is common to the three.
MTPI2_TABLE = {
    1: "ED",
    2: "EDD",
    3: "ESDU",
    4: "ESDUU",
    5: "EEDDUU",
    6: "EESDUUU",
    7: "EESDDUUU",
    8: "EESDDUUUU",
    9: "EEESDUUUUU",
    10: "EEESDDUUUUU",
    11: "EEESDDUUUUUU",
    12: "EEESSDDUUUUUU",
}
I3PLUS3_TABLE = MTPI2_TABLE | {1: "ES", 2: "ESD", 5: "EESDUU"}
TABLES = {"keyboard": MTPI2_TABLE, "mtpi2": MTPI2_TABLE, "i3+3": I3PLUS3_TABLE}


def letters(rows: list[dict]) -> dict[int, str]:
    """A decision table as one string per n (letter of each y)."""
    out = {}
    for row in rows:
        cells = {y: LETTERS[name] for name in DECISIONS for y in row[name]}
        out[row["n"]] = "".join(cells[y] for y in range(row["n"] + 1))
    return out


def oracle_letters(rule: Rule, n_max: int) -> dict[int, str]:
    return {
        n: "".join("U" if eliminated(rule, n, y) else decision(rule, n, y) for y in range(n + 1))
        for n in range(1, n_max + 1)
    }


# --------------------------------------------------------------------------------------------
# Decision tables


@pytest.mark.parametrize("method", DESIGNS)
def test_published_decision_tables_for_target_0_3(method):
    design = DESIGNS[method](3, target=0.3, max_n=12)
    assert letters(design.decision_table()) == TABLES[method]
    assert oracle_letters(Rule(method), 12) == TABLES[method]


@pytest.mark.parametrize("method", DESIGNS)
@pytest.mark.parametrize(
    ("target", "eps1", "eps2"), [(0.2, 0.05, 0.05), (0.25, 0.05, 0.05), (1 / 3, 0.06, 0.04)]
)
def test_decision_tables_equal_the_oracle(method, target, eps1, eps2):
    design = DESIGNS[method](3, target=target, eps1=eps1, eps2=eps2, max_n=30)
    assert letters(design.decision_table()) == oracle_letters(Rule(method, target, eps1, eps2), 30)


@pytest.mark.parametrize("target", [0.15, 0.2, 0.25, 0.3, 1 / 3, 0.4, 0.5])
def test_keyboard_and_mtpi2_decide_alike(target):
    """Yan et al. (2017) and Guo et al. (2017): the two designs give the same decisions."""
    kb, m2 = (cls(3, target=target, max_n=30).decision_table() for cls in (Keyboard, MTPI2))
    assert kb == m2


def test_keyboard_and_mtpi2_differ_when_a_short_end_piece_borders_the_target_key():
    """Target 0.1: mTPI-2's leftover interval [0, 0.05] borders the EI [0.05, 0.15], and its unit
    probability mass wins for few DLTs; Keyboard has no such key and stays (e.g. at 0/3)."""
    kb, m2 = (cls(3, target=0.1, max_n=30).codes for cls in (Keyboard, MTPI2))
    differ = kb != m2
    assert differ[3, 0]
    assert np.all(kb[differ] == STAY) and np.all(m2[differ] == ESCALATE)


def test_decision_table_partitions_the_dlt_counts():
    rows = I3plus3(3, max_n=9).decision_table(15)
    assert [row["n"] for row in rows] == list(range(1, 16))
    for row in rows:
        assert sorted(y for name in DECISIONS for y in row[name]) == list(range(row["n"] + 1))


# --------------------------------------------------------------------------------------------
# Exact engine vs oracle

SCENARIOS = {
    "rising": ["0.1", "0.3", "0.55"],
    "toxic": ["0.45", "0.6", "0.8"],
    "safe": ["0.02", "0.05", "0.1"],
}
CONFIGS = {  # cohort size, max_n, start dose, target
    "c3 N9": (3, 9, 0, 0.3),
    "c3 N12": (3, 12, 0, 0.3),
    "c3 N12 T0.25": (3, 12, 0, 0.25),
    "c3 N12 start1": (3, 12, 1, 0.3),
    "c1 N6": (1, 6, 0, 0.3),
    "c1 N6 T0.25": (1, 6, 0, 0.25),
    "c2 N8": (2, 8, 0, 0.3),
}


def check_against_oracle(method: str, p: list[Fraction], cohort: int, max_n: int, start: int, target: float):
    truth = exact_oracle(Rule(method, target), p, cohort, max_n, start)
    design = DESIGNS[method](len(p), target=target, cohort_size=cohort, max_n=max_n, start_dose=start)
    oc = exact(design, [float(q) for q in p])
    case = f"{method} p={[str(q) for q in p]} c={cohort} N={max_n} start={start} target={target}"
    np.testing.assert_allclose(
        oc.p_select, [float(x) for x in truth.p_select], rtol=0, atol=TOL, err_msg=case
    )
    assert oc.p_none == pytest.approx(float(truth.p_none), abs=TOL), case
    np.testing.assert_allclose(oc.mean_n, [float(x) for x in truth.mean_n], rtol=0, atol=TOL, err_msg=case)
    np.testing.assert_allclose(
        oc.mean_dlt, [float(x) for x in truth.mean_dlt], rtol=0, atol=TOL, err_msg=case
    )


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("method", DESIGNS)
def test_exact_equals_oracle(method, config, scenario):
    check_against_oracle(method, [Fraction(q) for q in SCENARIOS[scenario]], *CONFIGS[config])


@settings(max_examples=30, deadline=None)
@given(
    method=st.sampled_from(sorted(DESIGNS)),
    p=st.lists(st.integers(0, 20), min_size=2, max_size=4).map(sorted),
    cohort=st.sampled_from([1, 2, 3]),
    target=st.sampled_from([0.2, 0.25, 0.3]),
    data=st.data(),
)
def test_exact_equals_oracle_on_random_curves(method, p, cohort, target, data):
    max_n = data.draw(st.integers(cohort, {1: 6, 2: 8, 3: 9}[cohort]), label="max_n")
    start = data.draw(st.integers(0, len(p) - 1), label="start_dose")
    check_against_oracle(method, [Fraction(q, 20) for q in p], cohort, max_n, start, target)


def test_certain_toxicity_at_the_lowest_dose_stops_without_a_dose():
    for cls in DESIGNS.values():
        oc = exact(cls(3, max_n=12), [1.0, 1.0, 1.0])
        assert oc.p_none == 1.0 and oc.mean_n.tolist() == [3.0, 0.0, 0.0]


# --------------------------------------------------------------------------------------------
# Monte Carlo vs exact


@pytest.mark.parametrize("cls", [MTPI2, I3plus3])
def test_monte_carlo_agrees_with_exact_within_4_se(cls):
    design = cls(5, target=0.25, max_n=24)
    p = [0.05, 0.15, 0.25, 0.4, 0.55]
    ex = exact(design, p, target=0.25)
    mc = simulate(design, p, 100_000, seed=11, target=0.25)
    assert np.all(np.abs(mc.p_select - ex.p_select) <= 4 * mc.se_p_select + 1e-12)
    assert abs(mc.p_none - ex.p_none) <= 4 * mc.se_p_none + 1e-12
    assert np.all(np.abs(mc.mean_n - ex.mean_n) <= 4 * mc.se_mean_n + 1e-12)
    assert abs(mc.metrics["p_correct"] - ex.metrics["p_correct"]) <= 4 * mc.metrics["se_p_correct"]


# --------------------------------------------------------------------------------------------
# Parameters


def test_options_and_names():
    design = Keyboard(4, target=0.25, max_n=18, start_dose=1)
    assert (
        design.name == "Keyboard"
        and MTPI2(4, max_n=9).name == "mTPI-2"
        and I3plus3(4, max_n=9).name == "i3+3"
    )
    assert design.options == {
        "target": 0.25,
        "cohort_size": 3,
        "eps1": 0.05,
        "eps2": 0.05,
        "cutoff_eli": 0.95,
        "start_dose": 1,
        "max_n": 18,
    }
    assert Keyboard(4, max_n=9) != MTPI2(4, max_n=9)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"cohort_size": 0}, r"cohort_size must be an integer from 1 to 12, got 0"),
        ({"cohort_size": 13}, r"cohort_size must be an integer from 1 to 12, got 13"),
        ({"target": 0.0}, r"target must be a number strictly between 0 and 1, got 0.0"),
        ({"target": True}, r"target must be a number strictly between 0 and 1, got True"),
        (
            {"target": 0.2, "eps1": 0.2},
            r"eps1 must be a number strictly between 0 and 0.2 \(below the target\), got 0.2",
        ),
        ({"eps2": 0.7}, r"eps2 must be a number strictly between 0 and 0.7 \(below 1 - target\), got 0.7"),
        (
            {"eps1": -0.05},
            r"eps1 must be a number strictly between 0 and 0.3 \(below the target\), got -0.05",
        ),
        ({"cutoff_eli": 0.45}, r"cutoff_eli must be a number from 0.5 to 1 \(1: never eliminate\), got 0.45"),
        ({"max_n": None}, r"max_n is required for the i3\+3 design"),
        ({"max_n": 2}, r"max_n must be an integer from 3 to 500 \(at least one full cohort\), got 2"),
        ({"start_dose": 3}, r"start_dose must be an integer from 0 to 2"),
    ],
)
def test_invalid_parameters_name_the_field_and_its_range(kw, message):
    with pytest.raises(ValueError, match=message):
        I3plus3(3, **({"max_n": 12} | kw))
