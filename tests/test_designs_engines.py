"""Every registered design on every engine: the Monte Carlo and calendar-time engines agree with the
exact engine within 4 standard errors, metrics included (instantaneous outcomes, no competing risks,
every slot dosed before a decision, so the events engine simulates the same trials)."""

from __future__ import annotations

import numpy as np
import pytest

from doseesc import registry
from doseesc.conduct import Conduct
from doseesc.engines import exact, run_events, simulate

P = [0.05, 0.12, 0.25, 0.38, 0.55]
DESIGNS = {
    "2+2": {},
    "4+4": {"deescalate": True},
    "a+b": {"a": 3, "b": 2, "c": 1, "d": 2, "e": 2},
    "boin": {"max_n": 18},
    "keyboard": {"max_n": 15},
    "mtpi2": {"max_n": 15, "cohort_size": 1},
    "i3+3": {"max_n": 18, "start_dose": 1},
}


def within(got: np.ndarray, truth: np.ndarray, se: np.ndarray, what: str) -> None:
    got, truth, se = (np.asarray(x, dtype=float) for x in (got, truth, se))
    assert np.all(np.abs(got - truth) <= 4 * se + 1e-12), (what, got, truth, se)


@pytest.mark.parametrize("name", list(DESIGNS))
def test_monte_carlo_and_events_agree_with_exact(name):
    design = registry.design(name).build(len(P), DESIGNS[name], target=0.25)
    ex = exact(design, P, target=0.25)
    mc = simulate(design, P, 60_000, seed=7, target=0.25)
    within(mc.p_select, ex.p_select, mc.se_p_select, "mc p_select")
    within(mc.mean_n, ex.mean_n, mc.se_mean_n, "mc mean_n")
    for key in ("p_correct", "p_select_above_mtd", "share_patients_at_mtd"):
        within(mc.metrics[key], ex.metrics[key], mc.metrics[f"se_{key}"], f"mc {key}")
    conduct = Conduct((6.0,), window_days=28.0, cohort_decision="filled")
    ev = run_events(design, P, conduct, 1_500, seed=8, target=0.25)
    within(ev.oc.p_select, ex.p_select, ev.oc.se_p_select, "events p_select")
    within(ev.oc.mean_n, ex.mean_n, ev.oc.se_mean_n, "events mean_n")
    within(
        ev.oc.metrics["p_correct"], ex.metrics["p_correct"], ev.oc.metrics["se_p_correct"], "events p_correct"
    )
