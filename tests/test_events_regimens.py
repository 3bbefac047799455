"""Dose levels that differ in regimen (number of infusions) in the events engine.

The amended HALPC protocol's four levels are 0.6 and 1.2x10^6 cells/kg, once or twice
(scenarios/halpc_amended.toml), under the calibrated bleeding model with its posterior.  Without
competing risks the events engine's selection probabilities are the design's, which the Monte Carlo
engine estimates independently: they agree within Z = 4 standard errors of their difference.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from doseesc.conduct import Conduct
from doseesc.designs import ThreePlusThree
from doseesc.engines import simulate
from doseesc.engines.events import run_events
from doseesc.scenario import load

Z = 4.0
AMENDED = Path(__file__).resolve().parents[1] / "scenarios" / "halpc_amended.toml"
INFUSIONS = (1, 2, 1, 2)  # the scenario's [regimen] infusions, per level


def amended_conduct(**changes) -> Conduct:
    settings = {
        "infusions": INFUSIONS,
        "interval_days": 7.0,
        "screening_days": 7.0,
        "dlt_onset": "after_infusion",
        "cohort_decision": "filled",
    }
    return Conduct(2.0, **(settings | changes))


@pytest.fixture(scope="module")
def amended():
    return load(AMENDED).build("mc")


def test_amended_protocol_selects_as_the_monte_carlo_engine(amended):
    design, model = amended
    assert [model.models[r].regimen.infusions for r in model.regimen_index] == list(INFUSIONS)
    n_ev, n_mc = 4_000, 200_000
    ev = run_events(design, model, amended_conduct(), n_ev, seed=21).oc
    mc = simulate(design, model, n_mc, seed=22)
    p = mc.p_select
    se = np.sqrt(p * (1 - p) / n_ev + p * (1 - p) / n_mc)
    assert np.all(np.abs(ev.p_select - p) <= Z * se), (ev.p_select, p, se)
    se_none = math.sqrt(mc.p_none * (1 - mc.p_none) * (1 / n_ev + 1 / n_mc))
    assert abs(ev.p_none - mc.p_none) <= Z * se_none
    assert abs(ev.mean_total_n - mc.mean_total_n) <= Z * math.hypot(
        mc.sd_total_n / math.sqrt(n_ev), mc.sd_total_n / math.sqrt(n_mc)
    )


def test_each_level_gives_its_own_number_of_infusions(amended):
    design, model = amended
    notes: dict[int, set[str]] = {}
    dlts = 0
    for seed in range(6):  # the first trial of each run keeps its log
        log = run_events(design, model, amended_conduct(), 1, seed=seed).log
        first = {r.patient: r.time for r in log if r.kind == "infusion" and r.note.startswith("1 of")}
        for r in log:
            if r.kind == "infusion":
                notes.setdefault(r.dose, set()).add(r.note)
            elif r.kind == "dlt":
                # One infusion: the DLT within onset_days of it; two: after the first or the second.
                after = r.time - first[r.patient]
                assert after < 3.0 or (INFUSIONS[r.dose] == 2 and 7.0 <= after < 10.0), (r, after)
                dlts += 1
    for dose, seen in notes.items():
        assert seen <= {f"{k} of {INFUSIONS[dose]}" for k in range(1, INFUSIONS[dose] + 1)}, (dose, seen)
    assert {"1 of 1", "1 of 2", "2 of 2"} <= set().union(*notes.values()) and dlts > 0


def test_per_level_infusions_must_cover_the_levels():
    with pytest.raises(ValueError, match=r"^Conduct\.infusions = \[1, 2, 1\]: 3 counts for 4 dose levels"):
        run_events(ThreePlusThree(4), [0.1, 0.2, 0.3, 0.4], Conduct(2.0, infusions=(1, 2, 1)), 10, seed=1)
    with pytest.raises(ValueError, match=r"^Conduct\.infusions\[1\] = 0: allowed is a whole number >= 1$"):
        Conduct(2.0, infusions=(1, 0))
    with pytest.raises(ValueError, match=r"^Conduct\.interval_days = 20.0: allowed range is \[0, 14\]$"):
        Conduct(2.0, infusions=(1, 3), interval_days=20.0)
    with pytest.raises(ValueError, match=r"the toxicity model's regimen gives \[1, 2, 1, 2\] infusions"):
        design, model = load(AMENDED).build("mc")
        run_events(design, model, amended_conduct(infusions=2), 10, seed=1)
