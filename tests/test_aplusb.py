"""The A+B family (Lin & Shih 2001): the exact engine against the independent Fraction oracle
(``oracle.py``, which re-states the rule in plain Python), hand-worked closed forms, Monte Carlo
against exact, and parameter validation.

Closed forms are checked exactly (Fractions) against the oracle -- which validates the oracle
itself -- and to 1e-12 against the exact engine.  Monte Carlo estimates must lie within 4 standard
errors (taken from the simulated result) of the exact values; seeds are fixed.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import NONE, VARIANTS, exact_oracle, moment

from doseesc.designs import APlusB, ThreePlusThree
from doseesc.engines import exact, simulate

F = Fraction
TOL = 1e-12
VAR_TOL = 1e-10  # variances are E[X^2] - E[X]^2 in floating point (see test_exact.py)
Z = 4.0

# (a, b, c, d, e): the cohort sizes a and b cover 1 .. 6
CUTOFFS = {
    "3+3": (3, 3, 1, 1, 1),
    "2+2": (2, 2, 1, 1, 1),
    "4+4": (4, 4, 1, 1, 1),
    "1+1 e=0": (1, 1, 1, 0, 0),
    "1+1 e=1": (1, 1, 1, 0, 1),
    "3+3 c1d2e2": (3, 3, 1, 2, 2),
    "2+4 e=2": (2, 4, 1, 1, 2),
    "4+2 c2d2e3": (4, 2, 2, 2, 3),
    "5+1 c2d3e3": (5, 1, 2, 3, 3),
    "5+1 c2d3e4": (5, 1, 2, 3, 4),
    "6+6 c2d3e4": (6, 6, 2, 3, 4),
    "6+3 c1d1e2": (6, 3, 1, 1, 2),
}
SCENARIOS = {
    "rising": ["0.1", "0.3", "0.55"],
    "certain": ["0", "1/4", "1"],
}


def cutoff_kw(name: str) -> dict[str, int]:
    return dict(zip("abcde", CUTOFFS[name], strict=True))


def n_doses_for(name: str) -> int:
    """Few doses for the big cohorts, to keep the path enumeration small."""
    return 2 if max(CUTOFFS[name][:2]) >= 6 else 3


def floats(values):
    return [float(v) for v in values]


def describe(p, deescalate, expand_top, kw):
    return f"p={[str(q) for q in p]} deescalate={deescalate} expand_top={expand_top} {kw}"


def check_against_oracle(p, deescalate=False, expand_top=False, **kw):
    """Exact engine vs oracle to TOL, on every reported quantity; returns both results."""
    p = [F(q) for q in p]
    case = describe(p, deescalate, expand_top, kw)
    oracle = exact_oracle(p, deescalate, expand_top, **kw)
    design = APlusB(len(p), deescalate=deescalate, expand_top=expand_top, **kw)
    oc = exact(design, floats(p))

    np.testing.assert_allclose(oc.p_select, floats(oracle.p_select), rtol=0, atol=TOL, err_msg=case)
    assert oc.p_none == pytest.approx(float(oracle.p_none), abs=TOL), case
    np.testing.assert_allclose(oc.mean_n, floats(oracle.mean_n), rtol=0, atol=TOL, err_msg=case)
    np.testing.assert_allclose(oc.mean_dlt, floats(oracle.mean_dlt), rtol=0, atol=TOL, err_msg=case)
    assert oc.mean_total_n == pytest.approx(float(moment(oracle.total_n, 1)), abs=TOL), case
    assert oc.mean_total_dlt == pytest.approx(float(moment(oracle.total_dlt, 1)), abs=TOL), case
    np.testing.assert_allclose(oc.sd_n**2, floats(oracle.var_n), rtol=0, atol=VAR_TOL, err_msg=case)
    np.testing.assert_allclose(oc.sd_dlt**2, floats(oracle.var_dlt), rtol=0, atol=VAR_TOL, err_msg=case)

    length = max(oc.total_n_pmf.shape[0], max(oracle.total_n) + 1)
    expected = np.zeros(length)
    for m, q in oracle.total_n.items():
        expected[m] = float(q)
    got = np.zeros(length)
    got[: oc.total_n_pmf.shape[0]] = oc.total_n_pmf
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL, err_msg=f"total_n_pmf, {case}")
    return oracle, oc


# --------------------------------------------------------------------------------------------
# The constructors


def test_three_plus_three_is_the_default_a_plus_b():
    assert ThreePlusThree(4) == APlusB(4)
    assert ThreePlusThree(4) == APlusB(4, a=3, b=3, c=1, d=1, e=1)
    assert ThreePlusThree(4, deescalate=True, expand_top=True) == APlusB(4, deescalate=True, expand_top=True)
    assert APlusB.two_plus_two(3) == APlusB(3, a=2, b=2, c=1, d=1, e=1)
    assert APlusB.four_plus_four(3) == APlusB(3, a=4, b=4, c=1, d=1, e=1)
    assert APlusB.two_plus_two(3, deescalate=True) == APlusB(3, a=2, b=2, deescalate=True)
    assert APlusB.four_plus_four(2, expand_top=True, start_dose=1) == APlusB(
        2, a=4, b=4, expand_top=True, start_dose=1
    )
    assert APlusB(3, a=2, b=2) != APlusB(3)


# --------------------------------------------------------------------------------------------
# Exact engine vs oracle


@pytest.mark.parametrize(("deescalate", "expand_top"), VARIANTS)
@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("cutoffs", CUTOFFS)
def test_exact_equals_oracle(cutoffs, scenario, deescalate, expand_top):
    p = SCENARIOS[scenario][: n_doses_for(cutoffs)]
    check_against_oracle(p, deescalate, expand_top, **cutoff_kw(cutoffs))


@pytest.mark.parametrize(("deescalate", "expand_top"), VARIANTS)
@pytest.mark.parametrize("cutoffs", ["3+3", "2+2", "4+4", "1+1 e=1", "5+1 c2d3e3", "4+2 c2d2e3"])
@pytest.mark.parametrize("start_dose", [1, 2])
def test_exact_equals_oracle_start_dose(cutoffs, start_dose, deescalate, expand_top):
    p = ["0.15", "0.35", "0.6"]
    check_against_oracle(p, deescalate, expand_top, start_dose=start_dose, **cutoff_kw(cutoffs))


@pytest.mark.parametrize(("deescalate", "expand_top"), VARIANTS)
@pytest.mark.parametrize(
    ("cutoffs", "max_n"),
    [
        ("3+3", 3),
        ("3+3", 6),
        ("3+3", 10),
        ("3+3", 12),
        ("2+2", 5),
        ("2+2", 8),
        ("4+4", 9),
        ("5+1 c2d3e3", 11),
    ],
)
def test_exact_equals_oracle_max_n(cutoffs, max_n, deescalate, expand_top):
    p = ["0.1", "0.3", "0.5", "0.7"][: n_doses_for(cutoffs) + 1]
    check_against_oracle(p, deescalate, expand_top, max_n=max_n, **cutoff_kw(cutoffs))


@pytest.mark.parametrize(("deescalate", "expand_top"), VARIANTS)
@pytest.mark.parametrize(
    ("cutoffs", "stop_n"),
    [("3+3", 3), ("3+3", 6), ("2+2", 1), ("2+2", 2), ("4+2 c2d2e3", 3), ("4+4", 4), ("5+1 c2d3e3", 5)],
)
def test_exact_equals_oracle_stop_n_at_dose(cutoffs, stop_n, deescalate, expand_top):
    p = ["0.1", "0.3", "0.5", "0.7"][: n_doses_for(cutoffs) + 1]
    check_against_oracle(p, deescalate, expand_top, stop_n_at_dose=stop_n, **cutoff_kw(cutoffs))


@pytest.mark.parametrize(("deescalate", "expand_top"), VARIANTS)
@pytest.mark.parametrize("cutoffs", ["3+3", "2+2", "4+2 c2d2e3"])
def test_exact_equals_oracle_all_options(cutoffs, deescalate, expand_top):
    # start above the lowest dose, with a budget; and start at the third dose with a per-dose stop
    # at a (it fires whenever a dose holding a would be treated again).
    kw = cutoff_kw(cutoffs)
    p = ["0.05", "0.25", "0.4", "0.65"]
    check_against_oracle(p, deescalate, expand_top, start_dose=1, max_n=4 * kw["a"] + 2, **kw)
    check_against_oracle(p, deescalate, expand_top, start_dose=2, stop_n_at_dose=kw["a"], **kw)


def test_stop_n_at_dose_above_a_never_fires():
    # A dose is only treated again when it holds a patients: a threshold above a cannot fire.
    p = ["0.1", "0.3", "0.5"]
    for deescalate, expand_top in VARIANTS:
        plain, _ = check_against_oracle(p, deescalate, expand_top)
        with_stop, _ = check_against_oracle(p, deescalate, expand_top, stop_n_at_dose=4)
        assert plain.select == with_stop.select
        assert plain.total_n == with_stop.total_n


def test_max_n_and_stop_n_at_dose_before_the_same_cohort():
    """One dose, 3+3, max_n = 3 and stop_n_at_dose = 3: after 1/3 both rules stop the trial before
    the next cohort.  The oracle assumes stop_n_at_dose wins (select the dose); max_n alone would
    select dose -1 (none).  The specification does not order the two rules: a failure here is a
    question of precedence, not necessarily a bug."""
    p = F(1, 3)
    p0, p1 = (1 - p) ** 3, 3 * p * (1 - p) ** 2
    oracle, oc = check_against_oracle([p], max_n=3, stop_n_at_dose=3)
    assert oracle.p_select == [p0 + p1]
    assert oc.p_select[0] == pytest.approx(float(p0 + p1), abs=TOL)


# --------------------------------------------------------------------------------------------
# Hand-worked closed forms


def binom_cdf(m: int, k: int, p: Fraction) -> Fraction:
    """P(Bin(m, p) <= k)."""
    return sum((math.comb(m, j) * p**j * (1 - p) ** (m - j) for j in range(min(k, m) + 1)), F(0))


def pass_prob(p: Fraction, a, b, c, d, e) -> Fraction:
    """P(a dose passes the A+B rule): fewer than c DLTs among a, or c..d among a and at most e
    among the a + b."""
    total = F(0)
    for y in range(a + 1):
        py = math.comb(a, y) * p**y * (1 - p) ** (a - y)
        if y < c:
            total += py
        elif y <= d:
            total += py * binom_cdf(b, e - y, p)
    return total


PROBS = [F(0), F(1), F(1, 2), F(1, 3), F(1, 10), F(9, 10), F(7, 100)]


@pytest.mark.parametrize("p", PROBS)
@pytest.mark.parametrize("deescalate", [False, True])  # one dose: nothing below to de-escalate to
def test_two_plus_two_one_dose_closed_form(p, deescalate):
    # 0/2: select.  1/2: 2 more, select iff 0/2 among them (at most 1 in 4).  2/2: none.
    select = (1 - p) ** 2 + 2 * p * (1 - p) * (1 - p) ** 2
    oracle, oc = check_against_oracle([p], deescalate, a=2, b=2)
    assert oracle.p_select == [select]
    assert oracle.p_none == 1 - select
    # 2 patients after 0/2 or 2/2, 4 after 1/2
    assert {m: q for m, q in oracle.total_n.items() if q} == {
        m: q for m, q in {2: (1 - p) ** 2 + p**2, 4: 2 * p * (1 - p)}.items() if q
    }
    assert oc.p_select[0] == pytest.approx(float(select), abs=TOL)
    assert oc.mean_total_n == pytest.approx(float(2 + 4 * p * (1 - p)), abs=TOL)


@pytest.mark.parametrize("p", PROBS)
def test_two_plus_two_one_dose_expand_top_closed_form(p):
    # 0/2 or 1/2: 2 more, select iff at most 1 DLT in 4: (1-p)^2 (1 - p^2) + 2p(1-p)^3.
    select = (1 - p) ** 2 * (1 - p**2) + 2 * p * (1 - p) ** 3
    oracle, oc = check_against_oracle([p], False, True, a=2, b=2)
    assert oracle.p_select == [select]
    assert oc.p_select[0] == pytest.approx(float(select), abs=TOL)
    assert oc.mean_total_n == pytest.approx(float(2 + 2 * (1 - p**2)), abs=TOL)


@pytest.mark.parametrize("p", PROBS)
@pytest.mark.parametrize("deescalate", [False, True])
def test_four_plus_four_one_dose_closed_form(p, deescalate):
    # 0/4: select.  1/4: 4 more, select iff 0/4 among them.  >= 2/4: none.
    select = (1 - p) ** 4 + 4 * p * (1 - p) ** 3 * (1 - p) ** 4
    oracle, oc = check_against_oracle([p], deescalate, a=4, b=4)
    assert oracle.p_select == [select]
    assert oracle.p_none == 1 - select
    assert oc.p_select[0] == pytest.approx(float(select), abs=TOL)
    assert oc.p_none == pytest.approx(float(1 - select), abs=TOL)
    assert oc.mean_total_n == pytest.approx(float(4 + 4 * 4 * p * (1 - p) ** 3), abs=TOL)


@pytest.mark.parametrize("p", PROBS)
def test_four_plus_four_one_dose_expand_top_closed_form(p):
    # 0/4 or 1/4: 4 more, select iff at most 1 DLT in 8: (1-p)^4 P(Bin(4) <= 1) + 4p(1-p)^3 (1-p)^4.
    select = (1 - p) ** 4 * ((1 - p) ** 4 + 4 * p * (1 - p) ** 3) + 4 * p * (1 - p) ** 3 * (1 - p) ** 4
    oracle, oc = check_against_oracle([p], True, True, a=4, b=4)
    assert oracle.p_select == [select]
    assert oc.p_select[0] == pytest.approx(float(select), abs=TOL)


@settings(max_examples=30, deadline=None)
@given(
    data=st.data(),
    p=st.lists(st.fractions(min_value=0, max_value=1, max_denominator=12), min_size=1, max_size=3),
    expand_top=st.booleans(),
)
def test_k_doses_closed_form_without_deescalation(data, p, expand_top):
    """Classic A+B: P(select k) = e_0 ... e_k (1 - e_{k+1}), P(select top) = e_0 ... e_{K-1},
    P(none) = 1 - e_0, where e_j is dose j's pass probability (:func:`pass_prob`; with expand_top
    the top passes iff at most d among a and at most e among a + b)."""
    a = data.draw(st.integers(1, 4), "a")
    b = data.draw(st.integers(1, 4), "b")
    d = data.draw(st.integers(0, a - 1), "d")
    c = data.draw(st.integers(1, d + 1), "c")
    e = data.draw(st.integers(d, a + b - 1), "e")
    k_top = len(p) - 1
    passes = [pass_prob(q, a, b, c, d, e) for q in p]
    if expand_top:
        passes[k_top] = pass_prob(p[k_top], a, b, 0, d, e)  # c = 0: every y <= d is expanded
    reach = [F(1)]
    for ej in passes:
        reach.append(reach[-1] * ej)
    p_select = [reach[k + 1] * (1 - passes[k + 1]) for k in range(k_top)] + [reach[k_top + 1]]

    kw = dict(a=a, b=b, c=c, d=d, e=e)
    oracle, oc = check_against_oracle(p, False, expand_top, **kw)
    assert oracle.p_select == p_select
    assert oracle.p_none == 1 - passes[0]
    np.testing.assert_allclose(oc.p_select, floats(p_select), rtol=0, atol=TOL)


@pytest.mark.parametrize("q", [F(0), F(1, 5), F(1, 2), F(1)])
@pytest.mark.parametrize("expand_top", [False, True])
def test_deescalation_below_start_dose(q, expand_top):
    """3+3 on doses (0, 1), start at dose 1 which is always too toxic (p = 1, 3/3).

    Classic: dose 0 is named the MTD though nobody received it; n = (0, 3).
    De-escalation: dose 0 holds nobody, so a cohort of 3 is treated there and, unless it shows 2 or
    more, 3 more; at most 1 DLT in the 6 selects it.  P(select 0) = P(Bin(6, q) <= 1); the trial
    has 6 patients (>= 2/3 at dose 0) or 9."""
    oracle, oc = check_against_oracle([q, F(1)], False, expand_top, start_dose=1)
    assert oracle.p_select == [F(1), F(0)]
    assert oracle.mean_n == [F(0), F(3)]

    select = binom_cdf(6, 1, q)
    stop3 = 1 - binom_cdf(3, 1, q)
    oracle, oc = check_against_oracle([q, F(1)], True, expand_top, start_dose=1)
    assert oracle.p_select == [select, F(0)]
    assert oracle.p_none == 1 - select
    assert oracle.mean_n == [3 * stop3 + 6 * (1 - stop3), F(3)]
    assert oc.p_select[0] == pytest.approx(float(select), abs=TOL)
    assert oc.mean_n[0] == pytest.approx(float(3 * stop3 + 6 * (1 - stop3)), abs=TOL)


@pytest.mark.parametrize("p", [F(0), F(1, 4), F(1, 2), F(1)])
@pytest.mark.parametrize(("deescalate", "expand_top"), VARIANTS)
def test_max_n_three_on_two_doses(p, deescalate, expand_top):
    """3+3 on two doses (p, p) with max_n = 3: only one cohort fits.  0/3 at dose 0 -> the next
    cohort (dose 1) would pass max_n -> select dose 1 - 1 = 0; 1/3 -> the 3 more at dose 0 would
    pass it -> select -1 (none); >= 2/3 -> dose 0 too toxic: none.  Always 3 patients."""
    p0 = (1 - p) ** 3
    oracle, oc = check_against_oracle([p, p], deescalate, expand_top, max_n=3)
    assert oracle.p_select == [p0, F(0)]
    assert oracle.total_n == {3: F(1)}
    assert oc.p_select[0] == pytest.approx(float(p0), abs=TOL)
    assert oc.p_none == pytest.approx(float(1 - p0), abs=TOL)
    assert oc.mean_total_n == pytest.approx(3.0, abs=TOL)


@pytest.mark.parametrize("p", [F(0), F(1, 4), F(1, 2), F(1)])
def test_stop_n_at_dose_three_on_one_dose(p):
    """3+3, one dose, stop_n_at_dose = 3: 0/3 selects the (top) dose; 1/3 would treat 3 more at a
    dose holding 3 -> stop and select it; >= 2/3: none.  Always 3 patients."""
    select = (1 - p) ** 3 + 3 * p * (1 - p) ** 2
    oracle, oc = check_against_oracle([p], stop_n_at_dose=3)
    assert oracle.p_select == [select]
    assert oracle.total_n == {3: F(1)}
    assert oc.p_select[0] == pytest.approx(float(select), abs=TOL)
    assert oc.mean_total_n == pytest.approx(3.0, abs=TOL)


# --------------------------------------------------------------------------------------------
# Random parameter sets


@st.composite
def aplusb_cases(draw):
    a = draw(st.integers(1, 4))
    b = draw(st.integers(1, 4))
    d = draw(st.integers(0, a - 1))
    c = draw(st.integers(1, d + 1))
    e = draw(st.integers(d, a + b - 1))
    k = draw(st.integers(1, 3))
    p = draw(
        st.lists(
            st.one_of(st.sampled_from([F(0), F(1)]), st.fractions(0, 1, max_denominator=10)),
            min_size=k,
            max_size=k,
        )
    )
    kw = dict(a=a, b=b, c=c, d=d, e=e, start_dose=draw(st.integers(0, k - 1)))
    # at most one stopping rule: their precedence is tested on its own
    stop = draw(st.sampled_from(["none", "max_n", "stop_n_at_dose"]))
    if stop == "max_n":
        kw["max_n"] = draw(st.integers(max(a, b), k * (a + b) + a))  # at least one full cohort
    elif stop == "stop_n_at_dose":
        kw["stop_n_at_dose"] = draw(st.integers(1, a + b))
    return p, draw(st.booleans()), draw(st.booleans()), kw


@settings(max_examples=30, deadline=None)
@given(case=aplusb_cases())
def test_random_aplusb_equals_oracle(case):
    p, deescalate, expand_top, kw = case
    oracle, oc = check_against_oracle(p, deescalate, expand_top, **kw)
    assert oracle.p_none + sum(oracle.p_select) == 1
    assert oc.p_none + oc.p_select.sum() == pytest.approx(1.0, abs=TOL)


# --------------------------------------------------------------------------------------------
# Monte Carlo vs exact

MC_CASES = {
    "2+2 deescalate": (
        [0.05, 0.15, 0.3, 0.5, 0.7],
        dict(a=2, b=2, deescalate=True),
    ),
    "4+4 expand_top start 1": ([0.1, 0.2, 0.35, 0.5], dict(a=4, b=4, expand_top=True, start_dose=1)),
    "5+1 c2d3e3 max_n": ([0.1, 0.25, 0.4, 0.6], dict(a=5, b=1, c=2, d=3, e=3, max_n=16)),
    "3+3 both stop_n": ([0.05, 0.1, 0.2, 0.3, 0.5], dict(deescalate=True, expand_top=True, stop_n_at_dose=3)),
}


@pytest.mark.parametrize("name", MC_CASES)
def test_monte_carlo_agrees_with_exact(name):
    p, kw = MC_CASES[name]
    design = APlusB(len(p), **kw)
    n_trials = 100_000
    seed = 4242 + list(MC_CASES).index(name)
    oc = exact(design, p)
    mc = simulate(design, p, n_trials, seed)
    assert mc.n_trials == n_trials

    failures = []

    def check(label, est, expected, se):
        if se == 0:
            if abs(est - expected) > TOL:
                failures.append(f"{label}: {est!r} vs exact {expected!r} (SE 0)")
        elif abs(est - expected) > Z * se:
            failures.append(
                f"{label}: {est:.6g} vs exact {expected:.6g}, SE {se:.3g}, z={(est - expected) / se:+.2f}"
            )

    for k in range(len(p)):
        check(f"p_select[{k}]", mc.p_select[k], oc.p_select[k], mc.se_p_select[k])
        check(f"mean_n[{k}]", mc.mean_n[k], oc.mean_n[k], mc.se_mean_n[k])
    se_none = math.sqrt(mc.p_none * (1 - mc.p_none) / n_trials)
    check("p_none", mc.p_none, oc.p_none, se_none)
    assert not failures, f"{name}: " + "; ".join(failures)


# --------------------------------------------------------------------------------------------
# Validation


def check_message(excinfo, field: str, *range_hints: str):
    """The message names ``field`` (as a word) and shows its allowed range (one of the hints)."""
    msg = str(excinfo.value)
    assert re.search(rf"(?<![A-Za-z_]){re.escape(field)}(?![A-Za-z_])", msg), (
        f"message does not name {field!r}: {msg!r}"
    )
    assert any(h in msg for h in range_hints), f"message for {field!r} shows none of {range_hints}: {msg!r}"


@pytest.mark.parametrize(
    ("kw", "field", "hints"),
    [
        (dict(a=0), "a", ("1",)),
        (dict(b=0), "b", ("1",)),
        (dict(a=2, b=2, c=0), "c", ("1",)),
        (dict(c=3), "c", ("d + 1", "d+1", "2")),  # a = 3, d = 1: 1 <= c <= 2
        (dict(d=3), "d", ("a - 1", "a-1", "d + 1 <= a", "d+1 <= a", "2")),  # a = 3: d <= 2
        (dict(e=0), "e", ("d", "1")),  # d = 1: e >= 1
        (dict(e=6), "e", ("a + b", "a+b", "5", "6")),  # a = b = 3: e <= 5
    ],
)
def test_invalid_cutoffs_raise(kw, field, hints):
    with pytest.raises(ValueError) as excinfo:
        APlusB(3, **kw)
    check_message(excinfo, field, *hints)


@pytest.mark.parametrize(
    ("n_doses", "kw", "field", "hints"),
    [
        (0, {}, "n_doses", ("1",)),
        (3, dict(start_dose=3), "start_dose", ("2", "n_doses")),
        (3, dict(start_dose=-1), "start_dose", ("0",)),
        (3, dict(max_n=0), "max_n", ("1", "3", "a")),
        (3, dict(max_n=-5), "max_n", ("1", "3", "a")),
        (3, dict(stop_n_at_dose=0), "stop_n_at_dose", ("1",)),
    ],
)
def test_invalid_options_raise(n_doses, kw, field, hints):
    with pytest.raises(ValueError) as excinfo:
        APlusB(n_doses, **kw)
    check_message(excinfo, field, *hints)


def test_valid_extremes_are_accepted():
    # the constraints' corners: c = d + 1 = a, e = a + b - 1, e = d
    APlusB(2, a=1, b=1, c=1, d=0, e=0)
    APlusB(2, a=1, b=1, c=1, d=0, e=1)
    APlusB(2, a=6, b=6, c=6, d=5, e=11)
    APlusB(2, a=6, b=6, c=1, d=0, e=0)
    APlusB(2, start_dose=1, max_n=3, stop_n_at_dose=1)


def test_no_dose_selected_value():
    # one dose certain to be too toxic: no selection, under every variant
    for deescalate, expand_top in VARIANTS:
        oracle, oc = check_against_oracle([F(1)], deescalate, expand_top, a=2, b=2)
        assert oracle.select == {NONE: F(1)}
        assert oc.p_none == pytest.approx(1.0, abs=TOL)
