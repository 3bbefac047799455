"""The design contract: a rule written only here runs on every engine and through a scenario file
after one registry call, with no change to any engine, result or command-line module.

The rule (cohorts of one, no de-escalation): after a patient at dose d, 0 DLTs escalate (stay at the
top dose), 1 DLT stays; the second DLT at a dose stops the trial, selecting the dose below (none at
the lowest).  ``max_n`` (a common parameter, applied by the core) ends the trial first, selecting the
dose below the current one.  Its truth is computed below by walking every sequence of patient
outcomes in plain Python, independently of the package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from itertools import product

import numpy as np
import pytest

from doseesc import registry
from doseesc.cli import main
from doseesc.conduct import Conduct
from doseesc.designs import RUNNING, CommonDesign, State
from doseesc.engines import exact, run_events, simulate
from doseesc.scenario import parse, run_scenario

P = [0.1, 0.25, 0.45, 0.6]


@dataclass(frozen=True)
class Toy(CommonDesign):
    """Escalate on 0/1, stay on 1/1, stop on 2 DLTs at a dose (see the module docstring)."""

    fields = ("dose", "n", "y")
    outcomes = ("dlt",)

    name = "toy"
    options = property(lambda self: self.common_options())
    max_cohort = property(lambda self: 1)

    def start(self) -> State:
        return {
            "dose": np.full(1, self.start_dose),
            "n": np.zeros(1, int),
            "y": np.zeros(1, int),
            "selected": np.full(1, RUNNING),
        }

    def cohort(self, state: State):
        return state["dose"], np.ones_like(state["dose"])

    def update(self, state: State, outcome: dict[str, np.ndarray]) -> State:
        d, y = state["dose"], state["y"] + outcome["dlt"]
        up = (outcome["dlt"] == 0) & (d < self.n_doses - 1)
        return {
            "dose": np.where(up, d + 1, d),
            "n": np.where(up, 0, state["n"] + 1),
            "y": np.where(up, 0, y),
            "selected": np.where(y >= 2, d - 1, RUNNING),
        }


def truth(p: list[float], max_n: int) -> tuple[list[Fraction], Fraction, list[Fraction]]:
    """P(select d), P(none) and E[patients at d], from every sequence of ``max_n`` outcomes."""
    p = [Fraction(q).limit_denominator(10**6) for q in p]
    k = len(p)
    select, mean_n = [Fraction(0)] * k, [Fraction(0)] * k
    none = Fraction(0)
    seen: set[tuple[int, ...]] = set()
    for outcomes in product((0, 1), repeat=max_n):
        d, y, prob, n = 0, 0, Fraction(1), [0] * k
        chosen = None
        for t, dlt in enumerate(outcomes):
            prob *= p[d] if dlt else 1 - p[d]
            n[d] += 1
            y += dlt
            if y >= 2:
                chosen = d - 1
            elif dlt == 0 and d < k - 1:
                d, y = d + 1, 0
            if chosen is not None:
                used = outcomes[: t + 1]
                break
        else:
            chosen, used = d - 1, outcomes  # max_n reached: the dose below the current one
        if used in seen:  # a trial that stopped early is counted once, not once per unused tail
            continue
        seen.add(used)
        if chosen < 0:
            none += prob
        else:
            select[chosen] += prob
        for j in range(k):
            mean_n[j] += prob * n[j]
    return select, none, mean_n


@pytest.fixture
def toy_registered():
    registry.register_design(
        "toy", Toy, help="cohorts of one: escalate on 0/1, stay on 1/1, stop on 2 DLTs at a dose"
    )
    yield
    del registry.REGISTRY.designs["toy"]


def test_exact_engine_equals_the_enumeration_of_every_outcome_sequence():
    select, none, mean_n = truth(P, 9)
    oc = exact(Toy(4, max_n=9), P)
    np.testing.assert_allclose(oc.p_select, [float(x) for x in select], atol=1e-12)
    assert oc.p_none == pytest.approx(float(none), abs=1e-12)
    np.testing.assert_allclose(oc.mean_n, [float(x) for x in mean_n], atol=1e-12)


def test_monte_carlo_and_events_engines_agree_with_exact_within_4_se():
    design = Toy(4, max_n=9)
    ex = exact(design, P, target=0.25)
    mc = simulate(design, P, 200_000, seed=3, target=0.25)
    assert np.all(np.abs(mc.p_select - ex.p_select) <= 4 * mc.se_p_select + 1e-12)
    assert np.all(np.abs(mc.mean_n - ex.mean_n) <= 4 * mc.se_mean_n + 1e-12)
    assert abs(mc.metrics["p_correct"] - ex.metrics["p_correct"]) <= 4 * mc.metrics["se_p_correct"]
    conduct = Conduct((4.0,), window_days=21.0, cohort_decision="filled")
    ev = run_events(design, P, conduct, 3000, seed=4)
    assert np.all(np.abs(ev.oc.p_select - ex.p_select) <= 4 * ev.oc.se_p_select + 1e-12)
    assert ev.duration.median > 0


SCENARIO = """
[design]
name = "toy"
max_n = 9
target = 0.25

[toxicity]
model = "table"
p_dlt = [0.1, 0.25, 0.45, 0.6]

[run]
engines = ["exact", "mc"]
trials = 20000
seed = 5
"""


def test_a_scenario_file_and_the_command_line_run_the_registered_design(toy_registered, capsys, tmp_path):
    s = parse(SCENARIO, "toy.toml")
    res = run_scenario(s)
    select, _, _ = truth(P, 9)
    np.testing.assert_allclose(res.oc("exact").p_select, [float(x) for x in select], atol=1e-12)
    assert res.oc("exact").metrics["true_mtd"] == 1
    # The registry gave the command line its options: --design toy, --max-n.
    assert (
        main(["simulate", "--design", "toy", "--p-tox", "0.1,0.25,0.45,0.6", "--max-n", "9", "--json"]) == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["design"] == "toy" and out["options"] == {"max_n": 9}
    np.testing.assert_allclose(out["p_select"], [float(x) for x in select], atol=1e-12)
    # ... and its messages: a parameter out of range names the option and the range.
    with pytest.raises(SystemExit):
        main(["simulate", "--design", "toy", "--p-tox", "0.1,0.25,0.45,0.6", "--max-n", "0"])
    assert "--max-n" in capsys.readouterr().err
    path = tmp_path / "bad.toml"
    path.write_text(SCENARIO.replace("max_n = 9", "max_n = 9\ncohort = 2"))
    assert main(["validate", str(path)]) == 2
    assert 'design.cohort: unknown key for design "toy"' in capsys.readouterr().err


@dataclass(frozen=True)
class Forever(Toy):
    """The toy rule with its count of patients at a dose capped: at the top dose without DLTs it
    goes round in a loop of equal states, a trial that never ends."""

    def update(self, state: State, outcome: dict[str, np.ndarray]) -> State:
        after = super().update(state, outcome)
        return after | {"n": np.minimum(after["n"], 2)}


def test_a_rule_that_can_run_forever_is_refused_and_max_n_mends_it():
    with pytest.raises(ValueError, match="cycle"):
        exact(Forever(3), [0.0, 0.0, 0.0])
    oc = exact(Forever(3, max_n=6), [0.0, 0.0, 0.0])
    assert oc.p_select.tolist() == [0.0, 1.0, 0.0]  # stopped at the top by max_n: the dose below
