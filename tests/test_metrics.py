"""Target-based metrics (true MTD, correct selection, patients at/above/below the MTD, P(total DLTs
>= k)): the exact engine against the oracle's independent computation from its enumerated paths
(``oracle.oracle_metrics``, exact Fractions), hand-worked values, and Monte Carlo within 4 standard
errors of exact.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from oracle import VARIANTS, exact_oracle, oracle_metrics

from doseesc.designs import APlusB, ThreePlusThree
from doseesc.engines import exact, simulate
from doseesc.metrics import Target

F = Fraction
TOL = 1e-12
Z = 4.0

SCALARS = (
    "p_correct",
    "p_select_above_mtd",
    "share_patients_at_mtd",
    "share_patients_above_mtd",
    "share_patients_below_mtd",
)
KEYS = ("target", "true_mtd", *SCALARS, "p_total_dlt_at_least")

REFERENCE = ["0.05", "0.1", "0.2", "0.3", "0.5", "0.7"]
BAND = ("0.2", "0.3")


def floats(values):
    return [float(v) for v in values]


def make_target(target: str, band) -> Target:
    return Target(float(target), band=None if band is None else (float(band[0]), float(band[1])))


def target_value(value) -> float:
    """The target as reported in ``metrics["target"]`` (a number, a Target or a dict)."""
    if isinstance(value, dict):
        return float(value["value"])
    return float(getattr(value, "value", value))


def check_metrics(p, target="0.25", band=None, deescalate=False, expand_top=False, design=None, **kw):
    """Exact engine metrics vs the oracle's; returns (expected Fractions, engine result)."""
    case = f"p={p} target={target} band={band} deescalate={deescalate} expand_top={expand_top} {kw}"
    expected = oracle_metrics(exact_oracle(p, deescalate, expand_top, **kw), p, F(target), band)
    if design is None:
        design = APlusB(len(p), deescalate=deescalate, expand_top=expand_top, **kw)
    oc = exact(design, floats(p), target=make_target(target, band))
    m = oc.metrics
    assert set(KEYS) <= set(m), f"missing metrics {set(KEYS) - set(m)}: {case}"
    assert m["true_mtd"] == expected["true_mtd"], (
        f"true_mtd {m['true_mtd']} != {expected['true_mtd']}: {case}"
    )
    assert target_value(m["target"]) == float(target), case
    for key in SCALARS:
        assert m[key] == pytest.approx(float(expected[key]), abs=TOL), (
            f"{key}: got {m[key]!r}, expected {float(expected[key])!r}; {case}"
        )
    np.testing.assert_allclose(
        np.asarray(m["p_total_dlt_at_least"], dtype=float),
        floats(expected["p_total_dlt_at_least"]),
        rtol=0,
        atol=TOL,
        err_msg=f"p_total_dlt_at_least; {case}",
    )
    # to_dict() carries the same figures at top level
    d = oc.to_dict()
    for key in KEYS:
        assert key in d, f"to_dict() lacks {key!r}: {case}"
    assert d["true_mtd"] == m["true_mtd"]
    for key in SCALARS:
        assert d[key] == pytest.approx(m[key], abs=TOL), key
    np.testing.assert_allclose(
        np.asarray(d["p_total_dlt_at_least"], dtype=float), np.asarray(m["p_total_dlt_at_least"], dtype=float)
    )
    return expected, oc


# --------------------------------------------------------------------------------------------
# Exact engine vs oracle


@pytest.mark.parametrize(("deescalate", "expand_top"), VARIANTS)
def test_reference_scenario_without_band(deescalate, expand_top):
    # 0.2 and 0.3 are equally close to 0.25: the lower, dose 2, is the true MTD
    expected, _ = check_metrics(REFERENCE, "0.25", None, deescalate, expand_top)
    assert expected["true_mtd"] == 2


@pytest.mark.parametrize(("deescalate", "expand_top"), VARIANTS)
def test_reference_scenario_with_band(deescalate, expand_top):
    # band [0.2, 0.3] (inclusive) holds doses 2 and 3
    expected, oc = check_metrics(REFERENCE, "0.25", BAND, deescalate, expand_top)
    assert expected["true_mtd"] == 2
    # selecting dose 3 is correct with the band, not without it: the two differ by P(select 3)
    no_band, _ = check_metrics(REFERENCE, "0.25", None, deescalate, expand_top)
    assert expected["p_correct"] > no_band["p_correct"]
    assert oc.metrics["p_correct"] == pytest.approx(
        float(no_band["p_correct"]) + float(oc.p_select[3]), abs=TOL
    )


def test_target_as_float_equals_target_object():
    p = floats(REFERENCE)
    a = exact(ThreePlusThree(6), p, target=0.25).metrics
    b = exact(ThreePlusThree(6), p, target=Target(0.25)).metrics
    assert a["true_mtd"] == b["true_mtd"] == 2
    for key in SCALARS:
        assert a[key] == pytest.approx(b[key], abs=TOL)


@pytest.mark.parametrize(("deescalate", "expand_top"), VARIANTS)
def test_every_dose_above_the_band(deescalate, expand_top):
    # no dose in [0.2, 0.3] and all above it: the right decision is no dose
    p = ["0.35", "0.5", "0.65"]
    expected, oc = check_metrics(p, "0.25", BAND, deescalate, expand_top)
    assert expected["true_mtd"] is None
    assert oc.metrics["p_correct"] == pytest.approx(oc.p_none, abs=TOL)
    assert oc.metrics["p_select_above_mtd"] == pytest.approx(1 - oc.p_none, abs=TOL)
    assert oc.metrics["share_patients_at_mtd"] == 0
    assert oc.metrics["share_patients_above_mtd"] == pytest.approx(1.0, abs=TOL)
    assert oc.metrics["share_patients_below_mtd"] == 0


def test_empty_band_not_all_above_falls_back_to_closest():
    # nothing in [0.2, 0.3]; 0.35 (distance 0.10) is closer to 0.25 than 0.1 (0.15): dose 2
    expected, _ = check_metrics(["0.05", "0.1", "0.35", "0.6"], "0.25", BAND)
    assert expected["true_mtd"] == 2
    # every dose below the band: the closest is the highest
    expected, oc = check_metrics(["0.01", "0.05", "0.1"], "0.25", BAND, True, True)
    assert expected["true_mtd"] == 2
    assert oc.metrics["p_select_above_mtd"] == 0
    assert oc.metrics["share_patients_above_mtd"] == 0


@pytest.mark.parametrize(("deescalate", "expand_top"), VARIANTS)
def test_tie_goes_to_the_lower_dose(deescalate, expand_top):
    # 0.125 and 0.375 are exactly 0.125 from 0.25 (exact in binary): dose 0
    expected, _ = check_metrics(["0.125", "0.375", "0.5"], "0.25", None, deescalate, expand_top)
    assert expected["true_mtd"] == 0
    # the tie further up, with the band containing neither
    expected, _ = check_metrics(["0.05", "0.125", "0.375"], "0.25", ("0.2", "0.3"), deescalate, expand_top)
    assert expected["true_mtd"] == 1


def test_decimal_tie_goes_to_the_lower_dose():
    """0.15 and 0.25 are equally far (0.05) from 0.2 as decimals, so dose 1 is the true MTD.  In
    binary floating point 0.2 - 0.15 = 0.05000000000000002 > 0.25 - 0.2 = 0.04999999999999999: a
    plain float argmin names dose 2.  (The tie of 0.2 and 0.3 around 0.25 happens to survive the
    rounding.)  Distances within rounding of each other should count as a tie."""
    expected, _ = check_metrics(["0.05", "0.15", "0.25", "0.45"], "0.2")
    assert expected["true_mtd"] == 1


def test_other_designs_and_options():
    check_metrics(["0.05", "0.15", "0.25", "0.45"], "0.25", None, a=2, b=2, deescalate=True)
    check_metrics(["0.05", "0.15", "0.25", "0.45"], "0.22", ("0.15", "0.3"), a=4, b=4, expand_top=True)
    check_metrics(["0.1", "0.2", "0.3", "0.5"], "0.3", None, start_dose=1, max_n=12)
    check_metrics(["0.1", "0.2", "0.3", "0.5"], "0.3", ("0.25", "0.35"), stop_n_at_dose=3, deescalate=True)


# --------------------------------------------------------------------------------------------
# Hand-worked


@pytest.mark.parametrize("p", [F(1, 4), F(1, 2), F(1, 10)])
def test_one_dose_hand_worked(p):
    """3+3, one dose, target 1/4: it is the true MTD, so p_correct = P(select it) = (1-p)^3 + 3p(1-p)^5,
    all patients are at it, nothing is above.  Total DLTs: 0 after 0/3; 1 + k after 1/3 and k in 3
    more; 2 or 3 after >= 2/3."""
    q = 1 - p
    select = q**3 + 3 * p * q**5
    at_least = [
        1 - q**3,
        1 - q**3 - 3 * p * q**2 * q**3,
        p**3 + 3 * p * q**2 * (3 * p**2 * q + p**3),
        3 * p * q**2 * p**3,
        F(0),
    ]
    expected = oracle_metrics(exact_oracle([p]), [p], F(1, 4))
    assert expected["p_correct"] == select
    assert expected["p_total_dlt_at_least"] == at_least
    assert (expected["share_patients_at_mtd"], expected["share_patients_above_mtd"]) == (1, 0)

    m = exact(ThreePlusThree(1), [float(p)], target=Target(0.25)).metrics
    assert m["true_mtd"] == 0
    assert m["p_correct"] == pytest.approx(float(select), abs=TOL)
    assert m["p_select_above_mtd"] == pytest.approx(0.0, abs=TOL)
    assert m["share_patients_at_mtd"] == pytest.approx(1.0, abs=TOL)
    assert m["share_patients_below_mtd"] == pytest.approx(0.0, abs=TOL)
    np.testing.assert_allclose(m["p_total_dlt_at_least"], floats(at_least), rtol=0, atol=TOL)


def test_two_doses_hand_worked():
    """3+3, p = (0, 1), target 0.25: dose 0 (distance 0.25) beats dose 1 (0.75).  Every trial: 0/3 at
    dose 0, 3/3 at dose 1, dose 0 selected; 3 patients at each dose; 3 DLTs in all."""
    m = exact(ThreePlusThree(2), [0.0, 1.0], target=0.25).metrics
    assert m["true_mtd"] == 0
    assert m["p_correct"] == pytest.approx(1.0, abs=TOL)
    assert m["p_select_above_mtd"] == pytest.approx(0.0, abs=TOL)
    assert m["share_patients_at_mtd"] == pytest.approx(0.5, abs=TOL)
    assert m["share_patients_above_mtd"] == pytest.approx(0.5, abs=TOL)
    assert m["share_patients_below_mtd"] == pytest.approx(0.0, abs=TOL)
    np.testing.assert_allclose(m["p_total_dlt_at_least"], [1, 1, 1, 0, 0], rtol=0, atol=TOL)
    # with de-escalation, 3 more at dose 0 (n = (6, 3)): two thirds of the patients at the MTD
    m = exact(ThreePlusThree(2, deescalate=True), [0.0, 1.0], target=0.25).metrics
    assert m["share_patients_at_mtd"] == pytest.approx(2 / 3, abs=TOL)
    assert m["share_patients_above_mtd"] == pytest.approx(1 / 3, abs=TOL)


# --------------------------------------------------------------------------------------------
# Monte Carlo vs exact

MC_CASES = {
    "3+3 reference no band": (REFERENCE, None, dict()),
    "3+3 both options, band": (REFERENCE, BAND, dict(deescalate=True, expand_top=True)),
    "3+3 all above band": (["0.35", "0.5", "0.65"], BAND, dict(deescalate=True)),
}


@pytest.mark.parametrize("name", MC_CASES)
def test_monte_carlo_metrics_within_four_se(name):
    p_str, band, kw = MC_CASES[name]
    p = floats(p_str)
    design = APlusB(len(p), **kw)
    target = make_target("0.25", band)
    n_trials = 200_000
    seed = 777 + list(MC_CASES).index(name)
    ex = exact(design, p, target=target).metrics
    mc = simulate(design, p, n_trials, seed, target=target).metrics
    assert mc["true_mtd"] == ex["true_mtd"]
    for key in (*SCALARS, "p_total_dlt_at_least"):
        assert "se_" + key in mc, f"simulated metrics lack se_{key}"
    assert "se_target" not in mc and "se_true_mtd" not in mc

    failures = []

    def check(label, est, expected, se):
        assert math.isfinite(se) and se >= 0, f"{label}: SE {se!r}"
        if se == 0:
            if abs(est - expected) > TOL:
                failures.append(f"{label}: {est!r} vs exact {expected!r} (SE 0)")
        elif abs(est - expected) > Z * se:
            z = (est - expected) / se
            failures.append(f"{label}: {est:.6g} vs exact {expected:.6g}, SE {se:.3g}, z={z:+.2f}")

    for key in SCALARS:
        check(key, float(mc[key]), float(ex[key]), float(mc["se_" + key]))
    for k, (est, expected, se) in enumerate(
        zip(
            mc["p_total_dlt_at_least"], ex["p_total_dlt_at_least"], mc["se_p_total_dlt_at_least"], strict=True
        )
    ):
        check(f"p_total_dlt_at_least[{k}]", float(est), float(expected), float(se))
    assert not failures, f"{name}: " + "; ".join(failures)
