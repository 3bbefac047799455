"""The 3+3 rule: closed forms, hand-worked cases, structural properties and the compiled table.

Closed forms and hand-worked values are checked exactly (Fractions) against the scalar reference
``oracle.py`` -- which validates the reference itself -- and to 1e-12 against the exact engine.
"""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import COHORT, NONE, VARIANTS, Path, enumerate_paths, exact_oracle, simulate_one

from doseesc.designs import ThreePlusThree, compile_design
from doseesc.engines import exact

TOL = 1e-12
F = Fraction

probability = st.one_of(
    st.sampled_from([F(0), F(1)]), st.fractions(min_value=0, max_value=1, max_denominator=20)
)
scenarios = st.lists(probability, min_size=1, max_size=6)
variants = st.sampled_from(VARIANTS)


def floats(values):
    return [float(v) for v in values]


def nonzero(dist):
    """A distribution without its zero-probability values."""
    return {value: q for value, q in dist.items() if q}


def pass_3plus3(p: Fraction) -> Fraction:
    """P(a dose passes): 0/3, or 1/3 then 0/3."""
    return (1 - p) ** 3 + 3 * p * (1 - p) ** 5


def pass_expanded_top(p: Fraction) -> Fraction:
    """P(the top dose passes under expand_top): always 6 patients unless stopped at >= 2/3, and it
    passes with at most 1 DLT in 6: P(Bin(6, p) <= 1)."""
    return (1 - p) ** 6 + 6 * p * (1 - p) ** 5


# --------------------------------------------------------------------------------------------
# Closed forms without de-escalation


@pytest.mark.parametrize("p", [F(0), F(1), F(1, 2), F(1, 3), F(1, 10), F(9, 10), F(7, 100)])
@pytest.mark.parametrize("deescalate", [False, True])  # one dose: nothing below to de-escalate to
def test_one_dose_closed_form(p, deescalate):
    e = pass_3plus3(p)
    p0, p1 = (1 - p) ** 3, 3 * p * (1 - p) ** 2  # P(0/3), P(1/3)
    p2plus = 1 - p0 - p1  # P(>= 2/3)
    oracle = exact_oracle([p], deescalate, expand_top=False)
    assert oracle.p_select == [e]
    assert oracle.p_none == 1 - e
    # 3 patients after 0/3 or >= 2/3, 6 after 1/3
    assert nonzero(oracle.total_n) == nonzero({3: p0 + p2plus, 6: p1})

    oc = exact(ThreePlusThree(1, deescalate=deescalate), [float(p)])
    assert oc.p_select[0] == pytest.approx(float(e), abs=TOL)
    assert oc.p_none == pytest.approx(float(1 - e), abs=TOL)
    assert oc.total_n_pmf.sum() == pytest.approx(1.0, abs=TOL)
    expected_pmf = np.zeros(oc.total_n_pmf.shape[0])
    expected_pmf[3], expected_pmf[6] = float(p0 + p2plus), float(p1)
    np.testing.assert_allclose(oc.total_n_pmf, expected_pmf, rtol=0, atol=TOL)
    assert oc.mean_total_n == pytest.approx(float(3 + 3 * p1), abs=TOL)


@pytest.mark.parametrize("p", [F(0), F(1), F(1, 2), F(1, 3), F(1, 10), F(9, 10)])
@pytest.mark.parametrize("deescalate", [False, True])
def test_one_dose_expand_top_closed_form(p, deescalate):
    e = pass_expanded_top(p)
    p2plus = 1 - (1 - p) ** 3 - 3 * p * (1 - p) ** 2
    oracle = exact_oracle([p], deescalate, expand_top=True)
    assert oracle.p_select == [e]
    assert oracle.p_none == 1 - e
    # 3 patients only after >= 2/3; otherwise always expanded to 6
    assert nonzero(oracle.total_n) == nonzero({3: p2plus, 6: 1 - p2plus})

    oc = exact(ThreePlusThree(1, deescalate=deescalate, expand_top=True), [float(p)])
    assert oc.p_select[0] == pytest.approx(float(e), abs=TOL)
    assert oc.p_none == pytest.approx(float(1 - e), abs=TOL)
    assert oc.total_n_pmf[3] == pytest.approx(float(p2plus), abs=TOL)
    assert oc.total_n_pmf[6] == pytest.approx(float(1 - p2plus), abs=TOL)
    assert oc.total_n_pmf.sum() == pytest.approx(1.0, abs=TOL)


@settings(max_examples=40, deadline=None)
@given(p=scenarios, expand_top=st.booleans())
def test_k_doses_closed_form_without_deescalation(p, expand_top):
    """P(select k) = e_0 ... e_k (1 - e_{k+1}), P(select top) = e_0 ... e_{K-1}, P(none) = 1 - e_0,
    where e_j is dose j's pass probability; E[n_j] = R_j (3 + 3 q_j) and E[y_j] = R_j (3 p_j + 3 p_j q_j)
    where R_j = e_0 ... e_{j-1} is P(reaching j) and q_j P(3 more at j)."""
    k_top = len(p) - 1
    e = [pass_3plus3(q) for q in p]
    expand = [3 * q * (1 - q) ** 2 for q in p]
    if expand_top:
        e[k_top] = pass_expanded_top(p[k_top])
        expand[k_top] = (1 - p[k_top]) ** 3 + 3 * p[k_top] * (1 - p[k_top]) ** 2
    reach = [F(1)]
    for ej in e:
        reach.append(reach[-1] * ej)
    p_select = [reach[k + 1] * (1 - e[k + 1]) for k in range(k_top)] + [reach[k_top + 1]]
    mean_n = [reach[j] * (3 + 3 * expand[j]) for j in range(len(p))]
    mean_dlt = [reach[j] * 3 * p[j] * (1 + expand[j]) for j in range(len(p))]

    oracle = exact_oracle(p, deescalate=False, expand_top=expand_top)
    assert oracle.p_select == p_select
    assert oracle.p_none == 1 - e[0]
    assert oracle.mean_n == mean_n
    assert oracle.mean_dlt == mean_dlt

    oc = exact(ThreePlusThree(len(p), expand_top=expand_top), floats(p))
    np.testing.assert_allclose(oc.p_select, floats(p_select), rtol=0, atol=TOL)
    assert oc.p_none == pytest.approx(float(1 - e[0]), abs=TOL)
    np.testing.assert_allclose(oc.mean_n, floats(mean_n), rtol=0, atol=TOL)
    np.testing.assert_allclose(oc.mean_dlt, floats(mean_dlt), rtol=0, atol=TOL)


# --------------------------------------------------------------------------------------------
# Hand-worked cases with de-escalation


def check_case(p, deescalate, expand_top, p_select, p_none, total_n, mean_n):
    """Compare a hand-worked case with the oracle (exactly) and the exact engine (to TOL)."""
    oracle = exact_oracle(p, deescalate, expand_top)
    assert oracle.p_select == p_select
    assert oracle.p_none == p_none
    assert nonzero(oracle.total_n) == total_n
    assert oracle.mean_n == mean_n

    oc = exact(ThreePlusThree(len(p), deescalate, expand_top), floats(p))
    np.testing.assert_allclose(oc.p_select, floats(p_select), rtol=0, atol=TOL)
    assert oc.p_none == pytest.approx(float(p_none), abs=TOL)
    pmf = np.zeros_like(oc.total_n_pmf)
    for m, q in total_n.items():
        pmf[m] = float(q)
    np.testing.assert_allclose(oc.total_n_pmf, pmf, rtol=0, atol=TOL)
    np.testing.assert_allclose(oc.mean_n, floats(mean_n), rtol=0, atol=TOL)


@pytest.mark.parametrize("expand_top", [False, True])
def test_two_doses_certain_outcomes(expand_top):
    # p = (0, 1).  Dose 0 always shows 0/3 -> escalate; dose 1 always 3/3 -> too toxic.
    # Classic: MTD = dose 0 with n = (3, 3).  De-escalation: dose 0 holds only 3, so 3 more there
    # (0/3 again, 0/6 in all) -> MTD = dose 0 with n = (6, 3).  expand_top never triggers (dose 1 is
    # never 0/3), so it changes nothing.
    p = [F(0), F(1)]
    check_case(p, False, expand_top, [F(1), F(0)], F(0), {6: F(1)}, [F(3), F(3)])
    check_case(p, True, expand_top, [F(1), F(0)], F(0), {9: F(1)}, [F(6), F(3)])


def test_two_doses_expand_top_certain():
    # p = (0, 0): 0/3 at dose 0, 0/3 at the top.  Without expand_top the top is selected with
    # n = (3, 3); with it, 3 more at the top (0/6) before selecting it: n = (3, 6).
    for deescalate in (False, True):
        check_case([F(0), F(0)], deescalate, False, [F(0), F(1)], F(0), {6: F(1)}, [F(3), F(3)])
        check_case([F(0), F(0)], deescalate, True, [F(0), F(1)], F(0), {9: F(1)}, [F(3), F(6)])


def test_two_doses_deescalation_half_then_certain_toxicity():
    # p = (1/2, 1), de-escalation.  Cohort pmf at p = 1/2: P(0/3) = 1/8, P(1/3) = 3/8, P(>=2/3) = 1/2;
    # dose 1 is always too toxic (3/3).
    #   a) 0/3 at dose 0 (1/8) -> dose 1 toxic -> 3 more at dose 0: <= 1 DLT w.p. 1/8 + 3/8 = 1/2
    #      -> select 0, else none.  Total 9 patients either way; n = (6, 3).
    #   b) 1/3 at dose 0 (3/8) -> 3 more: 0 DLT (1/8) -> 1/6 passes -> dose 1 toxic -> dose 0 holds 6:
    #      select 0 directly (total 9); >= 1 DLT (7/8) -> >= 2/6, none (total 6).
    #   c) >= 2/3 at dose 0 (1/2) -> none (total 3).
    # P(select 0) = 1/8 * 1/2 + 3/8 * 1/8 = 7/64;  P(none) = 57/64.
    # Total n: 3 w.p. 32/64, 6 w.p. 21/64, 9 w.p. 8/64 + 3/64 = 11/64.
    # E[n_0] = 3 * 32/64 + 6 * 32/64 = 9/2;  E[n_1] = 3 * 11/64 = 33/64.
    for expand_top in (False, True):  # dose 1 never shows 0/3
        check_case(
            [F(1, 2), F(1)],
            True,
            expand_top,
            [F(7, 64), F(0)],
            F(57, 64),
            {3: F(32, 64), 6: F(21, 64), 9: F(11, 64)},
            [F(9, 2), F(33, 64)],
        )
    # Classic (no de-escalation), same p: a) selects 0 with 6 patients in all (1/8); b) as before
    # but dose 0 is selected with total 9 (3/64) or none with 6 (21/64); c) none with 3.
    # P(select 0) = 8/64 + 3/64 = 11/64.  Total n: 3: 32/64, 6: 8/64 + 21/64 = 29/64, 9: 3/64.
    # E[n_0] = 3 * 40/64 + 6 * 24/64 = 264/64;  E[n_1] = 3 * 11/64.
    check_case(
        [F(1, 2), F(1)],
        False,
        False,
        [F(11, 64), F(0)],
        F(53, 64),
        {3: F(32, 64), 6: F(29, 64), 9: F(3, 64)},
        [F(264, 64), F(33, 64)],
    )


def test_three_doses_two_level_cascade():
    # p = (0, 1/2, 1), de-escalation.  Dose 0 always 0/3; dose 2 always too toxic.
    #   A) dose 1 0/3 (1/8) -> dose 2 toxic -> 3 more at dose 1: <= 1 DLT (1/2) -> select 1,
    #      n = (3, 6, 3), total 12, prob 1/16.
    #   B) same, >= 2 DLTs (1/2) -> dose 1 too toxic, dose 0 holds 3 -> 3 more at 0 (0/6) -> select 0,
    #      n = (6, 6, 3), total 15, prob 1/16.                               [the two-level cascade]
    #   C) dose 1 1/3 (3/8), 3 more 0/3 (1/8) -> dose 2 toxic -> dose 1 holds 6 -> select 1 directly,
    #      n = (3, 6, 3), total 12, prob 3/64.
    #   D) dose 1 1/3, then >= 1 (7/8) -> too toxic -> 3 more at 0 -> select 0, n = (6, 6, 0),
    #      total 12, prob 21/64.
    #   E) dose 1 >= 2/3 (1/2) -> 3 more at 0 -> select 0, n = (6, 3, 0), total 9, prob 32/64.
    # P(select 1) = 4/64 + 3/64 = 7/64, P(select 0) = 57/64, P(none) = 0.
    # Total n: 9: 32/64, 12: 4/64 + 3/64 + 21/64 = 28/64, 15: 4/64.
    # E[n_0] = 3 * 7/64 + 6 * 57/64 = 363/64; E[n_1] = 6 * 32/64 + 3 * 32/64 = 9/2;
    # E[n_2] = 3 * (4 + 4 + 3)/64 = 33/64.
    for expand_top in (False, True):  # the top never shows 0/3
        check_case(
            [F(0), F(1, 2), F(1)],
            True,
            expand_top,
            [F(57, 64), F(7, 64), F(0)],
            F(0),
            {9: F(32, 64), 12: F(28, 64), 15: F(4, 64)},
            [F(363, 64), F(9, 2), F(33, 64)],
        )
    # Classic, same p: A, B merge (select 1 after 0/3 at dose 1 and toxic dose 2: 1/8, total 9),
    # C selects 1 (3/64, total 12), D and E select 0 (21/64 with total 9, 32/64 with total 6).
    # E[n_1] = 3 * (32 + 8)/64 + 6 * (3 + 21)/64;  E[n_2] = 3 * (8 + 3)/64.
    check_case(
        [F(0), F(1, 2), F(1)],
        False,
        False,
        [F(53, 64), F(11, 64), F(0)],
        F(0),
        {6: F(32, 64), 9: F(8, 64) + F(21, 64), 12: F(3, 64)},
        [F(3), 3 * F(40, 64) + 6 * F(24, 64), 3 * F(11, 64)],
    )


@pytest.mark.parametrize("expand_top", [False, True])
@pytest.mark.parametrize("a", [F(0), F(1, 10), F(1, 3), F(1, 2), F(1)])
@pytest.mark.parametrize("b", [F(0), F(1, 5), F(1, 2), F(4, 5), F(1)])
def test_two_doses_deescalation_formula(a, b, expand_top):
    # Two doses, de-escalation, p = (a, b).  At dose 0:
    #   A0 = (1-a)^3             0/3: escalate, dose 0 holds 3
    #   A1 = 3a(1-a)^2 (1-a)^3   1/3 then 0/3: escalate, dose 0 holds 6
    #   otherwise dose 0 too toxic: none.
    # At dose 1 (the top) it passes w.p. e_b (pass_3plus3, or P(Bin(6, b) <= 1) with expand_top)
    # and is selected; else, if dose 0 holds 6 it is selected, and if it holds 3, 3 more are treated
    # there and it is selected w.p. r = (1-a)^3 + 3a(1-a)^2 (<= 1 DLT among them), none otherwise.
    e_b = pass_expanded_top(b) if expand_top else pass_3plus3(b)
    a0 = (1 - a) ** 3
    a1 = 3 * a * (1 - a) ** 2 * (1 - a) ** 3
    r = (1 - a) ** 3 + 3 * a * (1 - a) ** 2
    p_select = [(1 - e_b) * (a1 + a0 * r), (a0 + a1) * e_b]
    p_none = 1 - a0 - a1 + a0 * (1 - e_b) * (1 - r)
    assert sum(p_select) + p_none == 1

    oracle = exact_oracle([a, b], deescalate=True, expand_top=expand_top)
    assert oracle.p_select == p_select
    assert oracle.p_none == p_none
    oc = exact(ThreePlusThree(2, deescalate=True, expand_top=expand_top), [float(a), float(b)])
    np.testing.assert_allclose(oc.p_select, floats(p_select), rtol=0, atol=TOL)
    assert oc.p_none == pytest.approx(float(p_none), abs=TOL)


# --------------------------------------------------------------------------------------------
# Structural properties, on every path of the compiled table and of the oracle


def table_paths(n_doses, deescalate, expand_top):
    """Every path through doseesc's compiled table, with the per-dose counts it accumulates.

    Also checks the table's own bookkeeping: ``n_before``/``y_before`` of each state equal the
    counts accumulated along the path at the dose of its next cohort.
    """
    table = compile_design(ThreePlusThree(n_doses, deescalate, expand_top))

    def walk(s, n, y, cohorts):
        d, size = int(table.dose[s]), int(table.size[s])
        assert size == COHORT
        assert (table.n_before[s], table.y_before[s]) == (n[d], y[d])
        for k in range(size + 1):
            target = int(table.advance(s, k))
            assert target >= 0
            n2, y2 = list(n), list(y)
            n2[d] += size
            y2[d] += k
            here = (*cohorts, (d, k))
            if target >= table.n_live:
                yield Path(here, int(table.selected(target)), tuple(n2), tuple(y2))
            else:
                yield from walk(target, n2, y2, here)

    yield from walk(0, [0] * n_doses, [0] * n_doses, ())


def check_final_counts(selected, n, y, deescalate, expand_top):
    """What the rule implies about a finished trial's counts per dose."""
    k_top = len(n) - 1
    assert all(m in (0, 3, 6) for m in n)
    assert all(0 <= dlt <= m for dlt, m in zip(y, n, strict=True))
    treated = [d for d in range(len(n)) if n[d]]
    assert treated == list(range(len(treated)))  # a prefix: doses are never skipped
    highest = treated[-1]
    toxic = [d for d in treated if y[d] >= 2]
    passed = [d for d in treated if y[d] <= 1]
    for d in passed:  # 0/3 or <= 1/6: 1/3 is always expanded
        assert n[d] == 6 or y[d] == 0
    if toxic:
        # too-toxic doses are the top of the treated range, contiguous, and the MTD is just below
        assert toxic == list(range(toxic[0], highest + 1))
        assert selected == toxic[0] - 1
        if not deescalate:
            assert len(toxic) == 1
    else:
        assert highest == k_top
        assert selected == k_top
    if expand_top and selected == k_top:
        assert n[k_top] == 6
    if deescalate and selected not in (NONE, k_top):
        assert n[selected] == 6
    if deescalate and expand_top and selected != NONE:  # the NCT05727722 MTD rule
        assert n[selected] >= 6
        assert y[selected] <= 1


def cumulative_toxic_check(path):
    """A dose is never treated after its DLT count reached 2."""
    y = {}
    for d, k in path.cohorts:
        assert y.get(d, 0) < 2, f"dose {d} treated again after being found too toxic: {path}"
        y[d] = y.get(d, 0) + k


@pytest.mark.parametrize(("deescalate", "expand_top"), VARIANTS)
@pytest.mark.parametrize("n_doses", range(1, 7))
def test_table_paths_equal_oracle_paths(n_doses, deescalate, expand_top):
    """doseesc's tabulated rule and the independent textbook rule produce the very same set of
    trials (cohort sequence, DLT counts, selection): the rules agree for every scenario at once."""
    ours = list(table_paths(n_doses, deescalate, expand_top))
    reference = list(enumerate_paths(n_doses, deescalate, expand_top))
    assert len(set(ours)) == len(ours)
    assert set(ours) == set(reference)
    for path in ours:
        cumulative_toxic_check(path)
        check_final_counts(path.selected, path.n, path.y, deescalate, expand_top)


@pytest.mark.parametrize("n_doses", [1, 2, 4, 7])
def test_nct05727722_every_recommendation_has_six_patients_and_at_most_one_dlt(n_doses):
    design = ThreePlusThree.nct05727722(n_doses)
    assert (design.n_doses, design.deescalate, design.expand_top) == (n_doses, True, True)
    n_paths = 0
    for path in table_paths(n_doses, True, True):
        n_paths += 1
        cumulative_toxic_check(path)
        if path.selected != NONE:
            assert path.n[path.selected] >= 6
            assert path.y[path.selected] <= 1
    assert n_paths > 0


@settings(max_examples=60, deadline=None)
@given(
    p=st.lists(st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0, 1)), min_size=1, max_size=8),
    variant=variants,
    seed=st.integers(0, 2**32 - 1),
)
def test_simulated_trials_follow_the_rule(p, variant, seed):
    """Random trials of the plain loop satisfy the rule's invariants (never skipping a dose, the
    too-toxic doses on top and contiguous, the MTD just below them, 6 patients where required)."""
    deescalate, expand_top = variant
    rng = random.Random(seed)
    for _ in range(20):
        selected, n, y = simulate_one(p, rng, deescalate, expand_top)
        check_final_counts(selected, n, y, deescalate, expand_top)


def test_simulate_one_accepts_numpy_generator():
    rng = np.random.default_rng(5)
    for _ in range(100):
        selected, n, y = simulate_one([0.1, 0.3, 0.6], rng, True, True)
        check_final_counts(selected, n, y, True, True)


# --------------------------------------------------------------------------------------------
# The compiled table


@pytest.mark.parametrize(("deescalate", "expand_top"), VARIANTS)
@pytest.mark.parametrize("n_doses", [1, 2, 3, 6, 10])
def test_table_max_patients_is_six_per_dose(n_doses, deescalate, expand_top):
    # Every dose can hold 6 (1/3 then 0/3 everywhere) and none holds more.
    table = compile_design(ThreePlusThree(n_doses, deescalate, expand_top))
    assert table.max_patients == 6 * n_doses
    assert table.n_doses == n_doses
    assert table.dose[0] == 0 and table.n_before[0] == 0 and table.y_before[0] == 0


def test_table_merges_states():
    """Without merging, the table would be the tree of cohort histories, which grows exponentially
    (963 live nodes already for 6 doses under the NCT05727722 rule).  Merged, a live state is the
    dose d, n and y there, the run of 3-patient doses below d (at most d) and whether a descent has
    begun: quadratically many in K.  Require at most 2 K^2 (200 for 10 doses)."""
    k = 10
    table = compile_design(ThreePlusThree(k, deescalate=True))
    assert table.max_patients == 6 * k
    assert 0 < table.n_live <= 2 * k * k

    prefixes = {path.cohorts[:i] for path in enumerate_paths(6, True, True) for i in range(len(path.cohorts))}
    assert compile_design(ThreePlusThree.nct05727722(6)).n_live * 10 < len(prefixes)


def test_design_rejects_bad_n_doses():
    for bad in (0, -1, 10_000):
        with pytest.raises(ValueError, match="n_doses"):
            ThreePlusThree(bad)
