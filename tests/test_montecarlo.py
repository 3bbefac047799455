"""The Monte Carlo engine: agreement with the exact engine, reproducibility, input validation.

Tolerances.  Every Monte Carlo estimate here is a mean of N independent trials, so it is within
Z = 4 standard errors of its expectation except with probability ~6e-5 (normal approximation).
Standard errors are computed from the *exact* distribution (the oracle's Fraction moments), not
from the simulation itself:

* a proportion pi (selection, no selection, a point of the sample-size pmf): sqrt(pi (1 - pi) / N);
* a mean of X (patients or DLTs, per dose or in total): sd(X) / sqrt(N);
* a sample variance s^2 of X: Var(s^2) = (mu4 - sigma^4 (N - 3) / (N - 1)) / N, with mu4 the fourth
  central moment of X -- so SDs are compared through their squares, |s^2 - sigma^2| <= Z * SE(s^2),
  which avoids dividing by a small sigma.

Seeds are fixed, so the tests are deterministic.  The 16 runs below make ~550 comparisons with a
non-zero SE, so fresh seeds would raise a false alarm with probability ~3% (550 x 6e-5): a failure
here is worth reading before it is blamed on chance (and a seed should not be changed to hide it).

Where an exact SE is zero (a dose with p exactly 0 or 1 makes some quantity certain), the estimate
must equal the exact value exactly.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

import numpy as np
import pytest
from oracle import NONE, VARIANTS, central_moment, exact_oracle, simulate_one

from doseesc.designs import ThreePlusThree
from doseesc.engines import exact, simulate
from doseesc.engines.montecarlo import BLOCK_TRIALS
from doseesc.engines.pathtree import PathTree

Z = 4.0
N_TRIALS = 200_000

SCENARIOS = {
    "reference": ["0.05", "0.1", "0.2", "0.3", "0.5", "0.7"],
    "flat-low": ["0.05", "0.05", "0.05", "0.05", "0.05"],
    "steep": ["0.1", "0.45", "0.8", "0.95"],
    "certain": ["0", "0", "0.3", "1", "1"],
}


class Comparison:
    """Collects every estimate-vs-exact comparison of one run, to report all failures at once."""

    def __init__(self, n_trials: int):
        self.n = n_trials
        self.failures: list[str] = []
        self.count = 0

    def _check(self, name, estimate, expected, se):
        self.count += 1
        if se == 0:
            if estimate != expected:
                self.failures.append(f"{name}: {estimate!r} != {expected!r} (exact SE is zero)")
        elif abs(estimate - expected) > Z * se:
            z = (estimate - expected) / se
            self.failures.append(f"{name}: {estimate:.6g} vs {expected:.6g}, SE {se:.3g}, z = {z:+.2f}")

    def proportion(self, name, estimate, expected: float, exact_pi: Fraction):
        se = math.sqrt(float(exact_pi * (1 - exact_pi)) / self.n)
        self._check(name, float(estimate), float(expected), 0.0 if exact_pi in (0, 1) else se)

    def mean(self, name, estimate, expected: float, dist):
        var = central_moment(dist, 2)
        self._check(name, float(estimate), float(expected), math.sqrt(float(var) / self.n) if var else 0.0)

    def sd(self, name, estimate, dist):
        var = central_moment(dist, 2)
        mu4 = central_moment(dist, 4)
        n = self.n
        var_s2 = (mu4 - var**2 * Fraction(n - 3, n - 1)) / n
        self._check(name, float(estimate) ** 2, float(var), math.sqrt(float(var_s2)) if var else 0.0)

    def assert_ok(self):
        assert not self.failures, f"{len(self.failures)} of {self.count} comparisons failed:\n" + "\n".join(
            self.failures
        )


def compare_to_exact(mc, oc, oracle, n_trials) -> Comparison:
    """Compare a Monte Carlo result ``mc`` with the exact engine's ``oc`` (SEs from ``oracle``)."""
    c = Comparison(n_trials)
    k = len(oracle.n)
    for d in range(k):
        c.proportion(f"p_select[{d}]", mc.p_select[d], oc.p_select[d], oracle.p_select[d])
        c.mean(f"mean_n[{d}]", mc.mean_n[d], oc.mean_n[d], oracle.n[d])
        c.mean(f"mean_dlt[{d}]", mc.mean_dlt[d], oc.mean_dlt[d], oracle.y[d])
    c.proportion("p_none", mc.p_none, oc.p_none, oracle.p_none)
    c.mean("mean_total_n", mc.mean_total_n, oc.mean_total_n, oracle.total_n)
    c.mean("mean_total_dlt", mc.mean_total_dlt, oc.mean_total_dlt, oracle.total_dlt)
    return c


@pytest.mark.parametrize(("deescalate", "expand_top"), VARIANTS)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_simulation_agrees_with_exact_engine(scenario, deescalate, expand_top):
    p_frac = SCENARIOS[scenario]
    p = [float(q) for q in p_frac]
    k = len(p)
    design = ThreePlusThree(k, deescalate, expand_top)
    seed = 20_000 + 10 * list(SCENARIOS).index(scenario) + VARIANTS.index((deescalate, expand_top))
    oracle = exact_oracle(p_frac, deescalate, expand_top)
    oc = exact(design, p)
    mc = simulate(design, p, N_TRIALS, seed=seed)

    assert mc.engine == "mc" and mc.n_trials == N_TRIALS and mc.seed == seed
    assert mc.p_select.sum() + mc.p_none == pytest.approx(1.0, abs=1e-12)
    assert mc.total_n_pmf.sum() == pytest.approx(1.0, abs=1e-12)

    c = compare_to_exact(mc, oc, oracle, N_TRIALS)
    # the whole distribution of the total sample size
    assert mc.total_n_pmf.shape == oc.total_n_pmf.shape
    for m in range(oc.total_n_pmf.shape[0]):
        c.proportion(
            f"total_n_pmf[{m}]", mc.total_n_pmf[m], oc.total_n_pmf[m], oracle.total_n.get(m, Fraction(0))
        )
    # spreads across trials
    for d in range(k):
        c.sd(f"sd_n[{d}]", mc.sd_n[d], oracle.n[d])
        c.sd(f"sd_dlt[{d}]", mc.sd_dlt[d], oracle.y[d])
    c.sd("sd_total_n", mc.sd_total_n, oracle.total_n)
    c.sd("sd_total_dlt", mc.sd_total_dlt, oracle.total_dlt)
    c.assert_ok()


def test_standard_errors_follow_from_estimates():
    p = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7]
    mc = simulate(ThreePlusThree.nct05727722(6), p, 50_000, seed=3)
    n = mc.n_trials
    np.testing.assert_allclose(mc.se_p_select, np.sqrt(mc.p_select * (1 - mc.p_select) / n), rtol=1e-12)
    assert mc.se_p_none == pytest.approx(math.sqrt(mc.p_none * (1 - mc.p_none) / n), rel=1e-12)
    np.testing.assert_allclose(mc.se_mean_n, mc.sd_n / math.sqrt(n), rtol=1e-12)
    np.testing.assert_allclose(mc.se_mean_dlt, mc.sd_dlt / math.sqrt(n), rtol=1e-12)
    assert mc.se_mean_total_n == pytest.approx(mc.sd_total_n / math.sqrt(n), rel=1e-12)
    assert mc.se_mean_total_dlt == pytest.approx(mc.sd_total_dlt / math.sqrt(n), rel=1e-12)
    d = mc.to_dict()
    assert d["n_trials"] == n and d["seed"] == 3
    assert d["se_p_select"] == mc.se_p_select.tolist()


def test_single_trial():
    mc = simulate(ThreePlusThree(3, deescalate=True), [0.2, 0.4, 0.6], 1, seed=9)
    outcomes = np.append(mc.p_select, mc.p_none)
    assert sorted(outcomes.tolist()) == [0.0] * 3 + [1.0]
    assert mc.total_n_pmf.sum() == 1.0
    assert mc.mean_total_n in (3.0, 6.0, 9.0, 12.0, 15.0, 18.0)


# --------------------------------------------------------------------------------------------
# Reproducibility

ARRAYS = ("p_tox", "p_select", "mean_n", "mean_dlt", "sd_n", "sd_dlt", "total_n_pmf")
SCALARS = ("p_none", "mean_total_n", "mean_total_dlt", "sd_total_n", "sd_total_dlt", "n_trials", "seed")


def assert_identical(a, b):
    assert a.to_dict() == b.to_dict()
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name
    for name in SCALARS:
        assert getattr(a, name) == getattr(b, name), name


REPRO_P = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7]
REPRO_TRIALS = 3 * BLOCK_TRIALS + 1234  # not a multiple of the block size: a short last block


@pytest.mark.parametrize(("deescalate", "expand_top"), [(False, False), (True, True)])
def test_bit_identical_whatever_chunking_and_jobs(monkeypatch, deescalate, expand_top):
    from doseesc.engines import montecarlo

    monkeypatch.setattr(montecarlo, "TREE_WORKERS_FROM", 0)  # worker processes even for a short run
    design = ThreePlusThree(6, deescalate, expand_top)
    base = simulate(design, REPRO_P, REPRO_TRIALS, seed=11, chunk_trials=BLOCK_TRIALS, jobs=1)
    for chunk_trials, jobs in [
        (BLOCK_TRIALS, 2),  # 4 chunks over 2 processes
        (2 * BLOCK_TRIALS, 2),  # 2 chunks over 2 processes
        (4 * BLOCK_TRIALS, 1),  # one chunk
        (4 * BLOCK_TRIALS, 2),
        (3 * BLOCK_TRIALS - 1, 1),  # rounded up to whole blocks
        (1, 1),  # rounded up to one block
    ]:
        other = simulate(design, REPRO_P, REPRO_TRIALS, seed=11, chunk_trials=chunk_trials, jobs=jobs)
        assert_identical(base, other)
    assert_identical(base, simulate(design, REPRO_P, REPRO_TRIALS, seed=11))  # default chunking


def test_same_seed_same_result_different_seed_different_result():
    design = ThreePlusThree.nct05727722(6)
    a = simulate(design, REPRO_P, 20_000, seed=123)
    assert_identical(a, simulate(design, REPRO_P, 20_000, seed=123))
    b = simulate(design, REPRO_P, 20_000, seed=124)
    assert not np.array_equal(a.p_select, b.p_select)
    assert a.mean_total_n != b.mean_total_n
    assert a.to_dict() != b.to_dict()


def test_fresh_entropy_is_recorded_and_reproduces():
    design = ThreePlusThree(4)
    p = [0.1, 0.2, 0.3, 0.4]
    a = simulate(design, p, 5_000)
    assert isinstance(a.seed, int)
    assert_identical(a, simulate(design, p, 5_000, seed=a.seed))
    b = simulate(design, p, 5_000)
    assert b.seed != a.seed


def test_a_block_prefix_does_not_depend_on_the_total():
    """A block's trials draw only what is theirs (block b's generator on the step engine; on the tree
    of paths, the numbers of its trials' index and its own run of the second stream): the first
    block of trials is the same whether one or more blocks are simulated, so the tallies of two
    blocks are those of the first block plus those of the second.  Checked on the sample-size
    counts, which are exact integers."""
    design = ThreePlusThree(6, deescalate=True)
    one = simulate(design, REPRO_P, BLOCK_TRIALS, seed=5)
    two = simulate(design, REPRO_P, 2 * BLOCK_TRIALS, seed=5)
    counts_one = np.rint(one.total_n_pmf * BLOCK_TRIALS)
    counts_two = np.rint(two.total_n_pmf * 2 * BLOCK_TRIALS)
    assert np.all(counts_two >= counts_one)
    assert not np.array_equal(counts_two, 2 * counts_one)


# --------------------------------------------------------------------------------------------
# Input validation


@pytest.mark.parametrize(
    "p_tox",
    [[0.1, 1.5], [-0.01, 0.2], [0.1, float("nan")], [float("-inf"), 0.2], []],
    ids=["above-1", "negative", "nan", "inf", "empty"],
)
def test_simulate_rejects_bad_probabilities(p_tox):
    with pytest.raises(ValueError, match="p_tox"):
        simulate(ThreePlusThree(2), p_tox, 100, seed=1)


@pytest.mark.parametrize("p_tox", [[0.1], [0.1, 0.2, 0.3]], ids=["too-short", "too-long"])
def test_simulate_rejects_wrong_number_of_doses(p_tox):
    # simulate() takes a toxicity model (or a list of probabilities): the message names the model
    with pytest.raises(ValueError, match=r"(p_tox|model) has \d+ doses but the design has 2"):
        simulate(ThreePlusThree(2), p_tox, 100, seed=1)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n_trials": 0}, "n_trials"),
        ({"n_trials": -3}, "n_trials"),
        ({"jobs": 0}, "jobs"),
        ({"jobs": -1}, "jobs"),
        ({"chunk_trials": 0}, "chunk_trials"),
    ],
)
def test_simulate_rejects_bad_arguments(kwargs, field):
    args = {"n_trials": 100, "seed": 1} | kwargs
    with pytest.raises(ValueError, match=field):
        simulate(ThreePlusThree(2), [0.1, 0.2], **args)


def test_nan_message_names_the_dose():
    with pytest.raises(ValueError, match=r"p_tox\[1\]"):
        simulate(ThreePlusThree(2), [0.1, float("nan")], 100, seed=1)


# --------------------------------------------------------------------------------------------
# The plain per-trial loop of the oracle (the benchmarks' baseline) simulates the same design


@pytest.mark.parametrize(("deescalate", "expand_top"), VARIANTS)
def test_plain_loop_agrees_with_exact_engine(deescalate, expand_top):
    p_frac = SCENARIOS["reference"]
    p = [float(q) for q in p_frac]
    k = len(p)
    n_trials = 20_000
    rng = random.Random(7_000 + VARIANTS.index((deescalate, expand_top)))
    selected = np.zeros(k + 1, dtype=np.int64)  # index 0: none
    n_sum = np.zeros(k)
    y_sum = np.zeros(k)
    for _ in range(n_trials):
        sel, n, y = simulate_one(p, rng, deescalate, expand_top)
        selected[sel + 1 if sel != NONE else 0] += 1
        n_sum += n
        y_sum += y

    oracle = exact_oracle(p_frac, deescalate, expand_top)
    oc = exact(ThreePlusThree(k, deescalate, expand_top), p)
    c = Comparison(n_trials)
    for d in range(k):
        c.proportion(f"p_select[{d}]", selected[d + 1] / n_trials, oc.p_select[d], oracle.p_select[d])
        c.mean(f"mean_n[{d}]", n_sum[d] / n_trials, oc.mean_n[d], oracle.n[d])
        c.mean(f"mean_dlt[{d}]", y_sum[d] / n_trials, oc.mean_dlt[d], oracle.y[d])
    c.proportion("p_none", selected[0] / n_trials, oc.p_none, oracle.p_none)
    c.mean("mean_total_n", n_sum.sum() / n_trials, oc.mean_total_n, oracle.total_n)
    c.mean("mean_total_dlt", y_sum.sum() / n_trials, oc.mean_total_dlt, oracle.total_dlt)
    c.assert_ok()


# --------------------------------------------------------------------------------------------
# The tree of paths (doseesc.engines.pathtree): one draw per trial from the exact path distribution

TREE_P = ["0", "0.1", "0.2", "0.3", "0.5", "1"]  # impossible outcomes at both ends


def _tree(design, p):
    """The tree of ``design``'s paths on the curve ``p``, as the Monte Carlo engine builds it."""
    from doseesc.designs import compile_design
    from doseesc.engines import montecarlo
    from doseesc.models.table import DoseToxicityTable

    plan = montecarlo._Plan.of(compile_design(design), DoseToxicityTable(np.asarray(p, float)), None, False)
    return PathTree.of(plan.table, plan.outcomes, plan.thresholds, plan.next_state, None)


def _grouped_paths(p_frac, deescalate, expand_top):
    """Exact probability of each trial record (selected, n per dose, DLTs per dose), summed over the
    paths (from the oracle's enumeration, in Fractions) that end in it."""
    from oracle import cohort_pmf, enumerate_paths, path_probability

    q = [Fraction(x) for x in p_frac]
    pmf = [[cohort_pmf(x, k) for k in range(4)] for x in q]
    grouped: dict[tuple, Fraction] = {}
    for path in enumerate_paths(len(q), deescalate, expand_top):
        key = (path.selected, path.n, path.y)
        grouped[key] = grouped.get(key, Fraction(0)) + path_probability(path, pmf)
    return {k: v for k, v in grouped.items() if v > 0}


@pytest.mark.parametrize(("deescalate", "expand_top"), VARIANTS)
def test_tree_leaves_are_the_paths_with_their_exact_probabilities(deescalate, expand_top):
    """Every leaf is a possible trial, with the probability the oracle's enumeration of paths gives
    it (in exact fractions), and the leaves' probabilities sum to one."""
    tree = _tree(ThreePlusThree(6, deescalate, expand_top), [float(x) for x in TREE_P])
    got: dict[tuple, float] = {}
    for k in range(tree.n_leaves):
        key = (int(tree.final[k]) - 1, tuple(tree.n[k].tolist()), tuple(tree.y[k].tolist()))
        got[key] = got.get(key, 0.0) + float(tree.probability[k])
    expected = _grouped_paths(TREE_P, deescalate, expand_top)
    assert got.keys() == expected.keys()
    for key, prob in expected.items():
        assert got[key] == pytest.approx(float(prob), rel=1e-12, abs=1e-15), key
    assert tree.probability.sum() == pytest.approx(1.0, abs=1e-14)


def _chi_square_p(records, expected: dict[tuple, Fraction], n: int) -> float:
    """Pearson's goodness-of-fit p-value of the trials' records against the exact distribution,
    records with an expected count under 5 pooled into one class."""
    from collections import Counter

    from scipy import stats

    frame = records
    counts = Counter(
        (
            int(row[0]),
            tuple(int(v) for v in row[1 : 1 + (len(row) - 1) // 2]),
            tuple(int(v) for v in row[1 + (len(row) - 1) // 2 :]),
        )
        for row in frame.itertuples(index=False)
    )
    assert set(counts) <= set(expected), "a record no path gives"
    observed, exp, rest_o, rest_e = [], [], 0, 0.0
    for key, prob in expected.items():
        e = float(prob) * n
        if e >= 5:
            observed.append(counts.get(key, 0))
            exp.append(e)
        else:
            rest_o += counts.get(key, 0)
            rest_e += e
    if rest_e > 0:
        observed.append(rest_o)
        exp.append(rest_e)
    else:
        assert rest_o == 0
    return float(stats.chisquare(observed, np.asarray(exp) * n / sum(exp)).pvalue)


@pytest.mark.parametrize("bits", [None, 4])
@pytest.mark.parametrize(("deescalate", "expand_top"), [(False, False), (True, True)])
def test_tree_trials_follow_the_exact_distribution_of_paths(monkeypatch, bits, deescalate, expand_top):
    """The records of 3 blocks and a short one fit the oracle's distribution of trials (Pearson's
    chi-square over every record with an expected count of 5 or more, the rest pooled; fixed seed,
    fails by chance with probability 1e-4).  ``bits = 4``: 16 bins, a threshold splits nearly every
    one, so almost every trial takes the bits below its bin from the second stream."""
    from doseesc.engines import montecarlo, pathtree

    monkeypatch.setattr(montecarlo, "_last_prepared", [])
    if bits is not None:
        monkeypatch.setattr(pathtree, "bin_bits", lambda n_leaves: bits)
    design = ThreePlusThree(6, deescalate, expand_top)
    n = REPRO_TRIALS
    mc = simulate(design, [float(x) for x in TREE_P], n, seed=31, records=True)
    frame = mc.records[["selected", *[f"n_{d}" for d in range(6)], *[f"dlt_{d}" for d in range(6)]]]
    assert _chi_square_p(frame, _grouped_paths(TREE_P, deescalate, expand_top), n) > 1e-4
    # The records are the trials the aggregates count.
    assert np.array_equal(np.bincount(frame["selected"] + 1, minlength=7)[1:], np.rint(mc.p_select * n))
    assert np.array_equal(frame[[f"n_{d}" for d in range(6)]].sum().to_numpy(), np.rint(mc.mean_n * n))


def test_tree_stream_layout(monkeypatch):
    """The documented use of the generators, rebuilt from the module's description: trial t's bin is
    the top bits of 16-bit lane t of PCG64(SeedSequence(seed)) (lane t % 4 of number t // 4, lowest
    first); block b's trials in split bins, in order of bin then trial, take the bits below the bin
    from numbers b * 2**14 on of the same generator jumped() once; the trial's leaf is the number of
    cumulative leaf probabilities at or below its 53-bit uniform.  Checked trial by trial on the
    records of a run of two chunks (records land where the run's trial index says)."""
    from doseesc.engines import montecarlo, pathtree

    bits = 6
    monkeypatch.setattr(montecarlo, "_last_prepared", [])
    monkeypatch.setattr(pathtree, "bin_bits", lambda n_leaves: bits)
    design = ThreePlusThree(4, deescalate=True)
    p = [0.1, 0.25, 0.4, 0.6]
    n = 2 * BLOCK_TRIALS + 1001
    mc = simulate(design, p, n, seed=77, chunk_trials=2 * BLOCK_TRIALS, records=True)
    tree = _tree(design, p)

    root = np.random.SeedSequence(77)
    numbers = np.random.PCG64(root).random_raw(-(-n // 4))
    lanes = np.array([(int(numbers[t // 4]) >> (16 * (t % 4))) & 0xFFFF for t in range(n)])
    trial_bin = lanes >> (16 - bits)
    cumulative = np.cumsum(tree.probability)[:-1]
    # A bin is split when a cumulative probability lies strictly inside it (as 53-bit integers).
    low = 53 - bits
    m_of = [math.ceil(c * 2.0**53) for c in cumulative.tolist()]
    split = {m >> low for m in m_of if m % (1 << low) and (m >> low) < (1 << bits)}
    uniform = (trial_bin << low).astype(np.float64)
    for b in range(-(-n // BLOCK_TRIALS)):
        trials = range(b * BLOCK_TRIALS, min(n, (b + 1) * BLOCK_TRIALS))
        in_split = sorted((int(trial_bin[t]), t) for t in trials if int(trial_bin[t]) in split)
        state = np.random.PCG64(root).jumped()
        state.advance(b * BLOCK_TRIALS)
        extra = state.random_raw(len(in_split))
        for (bin_, t), x in zip(in_split, extra.tolist(), strict=True):
            uniform[t] = (bin_ << low) + (x >> (64 - low))
    u = uniform * 2.0**-53
    leaf = np.searchsorted(cumulative, u, side="right")
    rec = mc.records
    assert np.array_equal(rec["selected"].to_numpy(), tree.final[leaf] - 1)
    for d in range(4):
        assert np.array_equal(rec[f"n_{d}"].to_numpy(), tree.n[leaf, d])
        assert np.array_equal(rec[f"dlt_{d}"].to_numpy(), tree.y[leaf, d])


def test_a_short_run_on_the_tree_stays_in_this_process(monkeypatch):
    """Worker processes cost more to start than a run on the tree of paths of fewer than
    TREE_WORKERS_FROM trials takes: jobs = 2 then runs here, with the same result."""
    from doseesc.engines import montecarlo

    asked = []
    real = montecarlo.map_chunks
    monkeypatch.setattr(
        montecarlo,
        "map_chunks",
        lambda fn, fixed, varying, jobs: asked.append(jobs) or real(fn, fixed, varying, jobs),
    )
    design = ThreePlusThree(6)
    one = simulate(design, REPRO_P, REPRO_TRIALS, seed=4, chunk_trials=BLOCK_TRIALS)
    assert_identical(one, simulate(design, REPRO_P, REPRO_TRIALS, seed=4, chunk_trials=BLOCK_TRIALS, jobs=2))
    assert asked == [1, 1]


def _both_engines(monkeypatch, design, model, n_trials, **kwargs):
    """``simulate`` on the tree of the design's paths, then on the step engine (no tree allowed)."""
    from doseesc.engines import montecarlo

    calls = []
    run_tree = montecarlo._run_tree
    monkeypatch.setattr(montecarlo, "_run_tree", lambda *a: calls.append(1) or run_tree(*a))
    tree = simulate(design, model, n_trials, seed=21, chunk_trials=BLOCK_TRIALS, **kwargs)
    assert calls, "the tree of paths was not used"
    monkeypatch.setattr(montecarlo, "TREE_MAX_NODES", 0)
    step = simulate(design, model, n_trials, seed=22, **kwargs)
    assert len(calls) == 1 + (n_trials - 1) // BLOCK_TRIALS  # one per chunk, none on the step engine
    return tree, step


def _agree(a, b, name):
    """Two independent Monte Carlo estimates (arrays of means and their SEs) within 4 SE of their
    difference, or equal where both SEs are zero."""
    (x, sx), (y, sy) = a, b
    se = np.sqrt(np.asarray(sx) ** 2 + np.asarray(sy) ** 2)
    diff = np.abs(np.asarray(x) - np.asarray(y))
    assert np.all(np.where(se > 0, diff <= Z * se, diff == 0)), (name, x, y, se)


@pytest.mark.parametrize(("deescalate", "expand_top"), VARIANTS)
def test_tree_of_paths_agrees_with_the_step_engine(monkeypatch, deescalate, expand_top):
    """The tree (one uniform per trial) and the step engine (one per cohort) estimate the same
    figures: selection, patients and DLTs per dose, and the metrics against a target."""
    design = ThreePlusThree(6, deescalate, expand_top)
    p = [float(x) for x in TREE_P]
    tree, step = _both_engines(monkeypatch, design, p, 6 * BLOCK_TRIALS, target=0.25)
    for name in ("p_select", "mean_n", "mean_dlt"):
        _agree(
            (getattr(tree, name), getattr(tree, f"se_{name}")),
            (getattr(step, name), getattr(step, f"se_{name}")),
            name,
        )
    _agree((tree.p_none, tree.se_p_none), (step.p_none, step.se_p_none), "p_none")
    mt, ms = tree.metrics, step.metrics
    for name in ("p_correct", "p_select_above_mtd", "share_patients_at_mtd", "share_patients_above_mtd"):
        _agree((mt[name], mt[f"se_{name}"]), (ms[name], ms[f"se_{name}"]), name)


def test_tree_of_paths_tallies_an_event_as_the_step_engine(monkeypatch):
    from doseesc.models.logistic import LogisticRisk
    from doseesc.models.mechanisms import MechanismModel, Regimen
    from doseesc.models.units import Dose, DoseLevels

    per_kg = Dose(1e6, "cells/kg")
    risks = (LogisticRisk("bleed", -1.5, 1.0, per_kg), LogisticRisk("other", -2.5, 0.7, per_kg))
    doses = DoseLevels.parse("0.3,0.6,1.2,2.5,5", "1e6cells/kg")
    model = MechanismModel(doses, risks, Regimen(2, 7.0), events=("bleed",))
    tree, step = _both_engines(monkeypatch, ThreePlusThree(5), model, 4 * BLOCK_TRIALS)
    et, es = tree.to_dict()["events"]["bleed"], step.to_dict()["events"]["bleed"]
    _agree((et["mean_per_dose"], et["se_per_dose"]), (es["mean_per_dose"], es["se_per_dose"]), "bleed")
    _agree((et["mean_total"], et["se_total"]), (es["mean_total"], es["se_total"]), "bleed total")
