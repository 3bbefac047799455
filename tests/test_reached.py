"""The Monte Carlo engine over a lazily tabulated rule: agreement with the exact engine, the same
answer whatever the chunking or the number of processes, and its refusals."""

from __future__ import annotations

import numpy as np
import pytest

from doseesc.designs.boin import BOIN
from doseesc.designs.crm import CRM
from doseesc.designs.lazy import LazyTable
from doseesc.engines.exact import exact
from doseesc.engines.reached import simulate_reached

P = np.array([0.05, 0.1, 0.2, 0.3, 0.5, 0.7])
SKELETON = (0.05, 0.12, 0.25, 0.4, 0.55, 0.7)


@pytest.mark.parametrize(
    "design",
    [
        CRM(6, target=0.3, skeleton=SKELETON, cohort_size=3, max_n=24),
        BOIN(6, target=0.3, cohort_size=3, max_n=24),
    ],
    ids=["crm", "boin"],
)
def test_within_four_standard_errors_of_exact(design):
    n = 40_000
    ex = exact(design, P, target=0.3)
    mc = simulate_reached(design, P, n, seed=11, target=0.3)
    probs = np.r_[ex.p_none, ex.p_select]
    se = np.sqrt(probs * (1 - probs) / n)
    assert np.all(np.abs(np.r_[mc.p_none, mc.p_select] - probs) <= 4 * se + 1e-12)
    se_n = ex.sd_n / np.sqrt(n)
    assert np.all(np.abs(mc.mean_n - ex.mean_n) <= 4 * se_n + 1e-12)
    assert abs(mc.metrics["p_correct"] - ex.metrics["p_correct"]) <= 4 * mc.metrics["se_p_correct"]


def test_bit_identical_whatever_the_chunking_and_processes():
    d = CRM(6, target=0.3, skeleton=SKELETON, cohort_size=3, max_n=18)
    a = simulate_reached(d, P, 40_000, seed=5, chunk_trials=40_000)
    b = simulate_reached(d, P, 40_000, seed=5, chunk_trials=16_384, jobs=2)
    np.testing.assert_array_equal(a.p_select, b.p_select)
    np.testing.assert_array_equal(a.mean_n, b.mean_n)
    np.testing.assert_array_equal(a.sd_dlt, b.sd_dlt)


def test_the_lazy_table_matches_the_full_table_on_the_states_it_reached():
    from doseesc.designs.base import compile_design

    d = CRM(6, target=0.3, skeleton=SKELETON, cohort_size=3, max_n=15)
    full = compile_design(d)
    lazy = LazyTable(d)
    # Walk every reachable state breadth-first through the lazy table; compare decision by decision
    # with the full table (ids differ, so map them).
    ids = {0: 0}
    frontier = [0]
    while frontier:
        lazy.reach(np.array(frontier))
        nxt = []
        for s in frontier:
            f = ids[s]
            assert lazy.dose[s] == full.dose[f] and lazy.size[s] == full.size[f]
            for code in range(4):
                a, b = int(lazy.next[s, code]), int(full.next[f, code])
                if a < 0:
                    assert b >= full.n_live and full.selected(b) == -a - 2
                else:
                    assert b < full.n_live
                    if a not in ids:
                        ids[a] = b
                        nxt.append(a)
                    assert ids[a] == b
        frontier = nxt
    assert len(ids) == full.n_live


def test_refuses_a_design_without_a_sample_size_limit():
    from doseesc.designs.aplusb import APlusB

    with pytest.raises(ValueError, match="give it a max_n"):
        simulate_reached(APlusB(4), [0.1, 0.2, 0.3, 0.4], 10, seed=1)


def test_the_monte_carlo_engine_turns_to_reached_states_beyond_its_table_limit():
    from doseesc.engines.montecarlo import simulate

    d = CRM(6, target=0.3, skeleton=SKELETON, cohort_size=1, max_n=24)  # about 80,000 states > 50,000
    a = simulate(d, P, 2_000, seed=4)
    b = simulate_reached(d, P, 2_000, seed=4)
    np.testing.assert_array_equal(a.p_select, b.p_select)
    np.testing.assert_array_equal(a.mean_dlt, b.mean_dlt)
    with pytest.raises(ValueError, match="records and common random numbers need the design's full table"):
        simulate(d, P, 10, seed=1, records=True)


def test_a_stopped_full_tabulation_is_reused_and_changes_nothing():
    """The Monte Carlo engine first tries to tabulate every state; when there are too many, the
    reached-state engine starts from the states and decisions found, with the same results."""
    from doseesc.designs.base import TooManyStates, compile_design
    from doseesc.engines.reached import _table

    d = CRM(6, target=0.3, skeleton=(0.05, 0.12, 0.25, 0.4, 0.55, 0.7), cohort_size=1, max_n=24)
    p = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7]
    with pytest.raises(TooManyStates) as caught:
        compile_design(d, 2_000)
    index, successors = caught.value.partial
    assert index.n > 2_000 and 0 < successors.shape[0] < index.n
    _table.cache_clear()
    fresh = simulate_reached(d, p, 3_000, seed=11)
    _table.cache_clear()
    table = _table(d)
    table.adopt(caught.value.partial)
    assert table.n_states == index.n and table._reached[: successors.shape[0]].all()
    reused = simulate_reached(d, p, 3_000, seed=11)
    np.testing.assert_array_equal(reused.p_select, fresh.p_select)
    np.testing.assert_array_equal(reused.mean_n, fresh.mean_n)
    np.testing.assert_array_equal(reused.mean_dlt, fresh.mean_dlt)
    with pytest.raises(RuntimeError, match="already tabulated"):
        table.adopt(caught.value.partial)
    _table.cache_clear()
