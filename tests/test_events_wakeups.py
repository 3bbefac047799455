"""A patient who passes screening before any other event is dosed at once, without a wake-up event
(:meth:`doseesc.engines.events_trial.Trial._try_dose`): the trial must be the one simpy runs with
every wake-up queued and processed, bit for bit (the same draws in the same order, at the same
times, the same event log)."""

from __future__ import annotations

import json
import math

import pytest

from doseesc.conduct import Conduct
from doseesc.designs import ThreePlusThree
from doseesc.designs.titration import AcceleratedTitration
from doseesc.engines import events_trial
from doseesc.engines.courses import CourseOptions
from doseesc.engines.events import run_events
from doseesc.models.graded import GradedTable

P_TOX = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7]
GRADED = GradedTable(
    p_grade2=[0.1, 0.15, 0.2, 0.25, 0.2, 0.15],
    p_grade3=[0.04, 0.08, 0.15, 0.22, 0.35, 0.5],
    p_grade4=[0.01, 0.02, 0.05, 0.08, 0.15, 0.2],
)


def halpc(per_month: float, decision: str) -> Conduct:
    """HALPC-like conduct: uniform screening, DLTs after an infusion, deaths and transplants (slots
    replaced), a sentinel and safety reviews."""
    return Conduct.halpc(
        per_month,
        screen_failure=0.2,
        max_wait_days=14.0,
        stagger_days=7.0,
        halt_probability=0.5,
        halt_days=14.0,
        cohort_decision=decision,
    )


CASES = [
    *[
        pytest.param(ThreePlusThree(6), P_TOX, halpc(rate, decision), None, id=f"halpc-{rate:g}-{decision}")
        for rate in (0.5, 5.0)
        for decision in ("earliest", "filled", "complete")
    ],
    pytest.param(
        AcceleratedTitration.simon(4, 6),
        GRADED,
        Conduct(2.0, window_days=28.0),
        CourseOptions(3, intrapatient=True),
        id="atd4-courses",
    ),
]


def run(design, model, conduct, courses) -> tuple[str, int]:
    """The run's JSON (event log included) and per-trial durations, and the wake-ups processed."""
    wakes = 0
    wake = events_trial.Trial._wake

    def counted(self, event):
        nonlocal wakes
        wakes += 1
        wake(self, event)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(events_trial.Trial, "_wake", counted)
        r = run_events(design, model, conduct, 300, seed=17, courses=courses)
    text = json.dumps(r.to_dict(include_log=True), sort_keys=True, default=str)
    return text + repr(r.durations.tolist()), wakes


@pytest.mark.parametrize(("design", "model", "conduct", "courses"), CASES)
def test_dosing_at_once_is_the_wakeup_simpy_would_process(monkeypatch, design, model, conduct, courses):
    direct, direct_wakes = run(design, model, conduct, courses)
    init = events_trial.Trial.__init__

    def every_wakeup_queued(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.next_event = lambda: -math.inf  # as if some event always came first

    monkeypatch.setattr(events_trial.Trial, "__init__", every_wakeup_queued)
    queued, queued_wakes = run(design, model, conduct, courses)
    assert direct == queued
    # Not vacuous: some patients were dosed at once.
    assert queued_wakes > direct_wakes
