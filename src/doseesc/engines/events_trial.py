"""One trial of the events engine (:mod:`doseesc.engines.events`): a simpy environment, its events
and the design's early decision.

One trial is a :class:`simpy.Environment` whose events are: a wake-up when a slot is open and the
next patient passes screening after some other event (with none before, the patient is dosed at
once, at that time: the wake-up would change nothing else), a dosed patient's outcome (DLT, end of
the window, or death or transplant first), the end of a sentinel's stagger period and the end of a
safety review.  The design is consulted only through its tabulated rule
(:func:`doseesc.designs.compile_design`): the current table id gives the dose and size of the open
cohort, and ``table.next[id, code]`` the next id once the cohort showed the outcome ``code`` (its
DLT count; see below).

What each patient will do is drawn when it can first be known, so that one event per patient and
stage is enough.  Arrivals are no events at all (:mod:`doseesc.engines.accrual`).  At dosing, one
uniform gives whether a DLT comes, then when, and when death or transplant would come (the earliest
of DLT, exit and window end is the patient's outcome event).  Waiting limits are applied lazily: the
queue is first come first served with one waiting limit for all, so a patient whose limit has
passed is met first when a slot opens, and counted as lost at the time the limit passed.

Early decision, derived from the table alone.  A cohort's outcome is what the design reads of it
(its DLT count, and for accelerated titration its grade-2 count), coded as in the table.  With the
outcomes seen so far in the open cohort and ``unknown`` of its patients not known yet (in their
window, or, under ``Conduct.cohort_decision = "earliest"``, not yet dosed), the cohort is decided as
soon as every way those patients could turn out (each a DLT, a grade 2 where the design counts
them, or neither) leads to the same next id.  The cohort's outcome in the tallies is the one its
dosed patients will show (drawn at dosing), which leads to that same id.  So without competing
risks the selection probabilities do not depend on the conduct, and when every slot is dosed
(``"filled"`` or ``"complete"``) neither do the expected counts: both agree with the exact engine.
Under ``"earliest"`` a cohort decided before all its slots were dosed treats fewer patients than the
table's cohort size; the patients per dose and in total are counted as treated (the design's state
still holds the full size, which by the same argument does not change its next decision; for the
3+3 the dose so decided is never treated again).

Every event carries its own time (:class:`Due`), which the callbacks pass along as ``now``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from heapq import heappush
from typing import Any

import simpy
from simpy.core import NORMAL, URGENT

from doseesc.engines.accrual import Uniforms, accrual
from doseesc.engines.events_result import LogRecord
from doseesc.engines.events_setup import Setup

# A dosed patient's outcome, drawn at dosing: window completed (without or with a grade-2
# toxicity), DLT (flagged SUSAR or not), or an exit from the window first.
_COMPLETE, _GRADE2, _DLT, _SUSAR, _DEATH, _TRANSPLANT = range(6)
_OUTCOME_KIND = ("window_complete", "window_complete", "dlt", "dlt", "death", "transplant")
_OUTCOME_NOTE = ("", "grade 2", "", "SUSAR", "", "")


class Due:
    """A triggered simpy event, scheduled as :meth:`simpy.Environment.schedule` would (by
    :attr:`Clock.push`) and processed by its ``step`` as any other: its callbacks are called with
    it, ``_value`` holds its value.  Only what ``step`` reads of an event (``callbacks``, ``_ok``),
    and no ``__init__``: one or two per patient, at about two-thirds of a
    :class:`simpy.events.Timeout`'s cost.  ``at``: its time in days, the moment of scheduling plus
    the delay (as ``schedule`` computes it), the key it is queued by, so that a callback has the
    clock's time without asking the environment."""

    __slots__ = ("_value", "at", "callbacks")
    _ok = True


class Clock(simpy.Environment):
    """A trial's simpy environment.  The engine schedules its own events (:class:`Due`) and uses none
    of the environment's event factories (``process``, ``timeout`` ...), which simpy binds to each
    new environment of its own class only: a subclass is created at about a fifth of the cost."""

    def __init__(self) -> None:
        super().__init__()
        # simpy's schedule at an event's own time (``Due.at``, days) rather than a delay from the
        # clock's, by C-level calls: a patient dosed when a wake-up would have come (see
        # Trial._try_dose) schedules from a time the clock has not reached.  An entry is what simpy's
        # schedule pushes: (time, priority, id, event).
        self.push = partial(heappush, self._queue)
        self.next_id = self._eid.__next__


class TrialOver(Exception):
    """Raised inside an event callback when the design stops or the clock reaches the horizon: ends
    the trial at once."""


class Trial:
    """One simulated trial: state, simpy callbacks and tallies."""

    def __init__(
        self, setup: Setup, u: Uniforms, outcomes: list[int], kind: int, log: list[LogRecord] | None
    ) -> None:
        self.s = setup
        self.u = u.draw  # the next uniform: one C-level call
        self.outcomes = outcomes  # flat (state, DLT count) indices of decided cohorts, for the chunk
        # Per dose, (P(DLT), P(event), P(grade >= 2)) of every patient, or None where each patient
        # has its own (_risks).
        self.risks: list[tuple[float, float, float]] | None = setup.one_kind or setup.risks(kind)
        self.cdf = setup.one_cdf or (
            None if setup.infusion_cdf is None else setup.infusion_cdf[kind].tolist()
        )
        self.log = log
        self.env = env = Clock()
        self.push, self.next_id, self.next_event = env.push, env.next_id, env.peek
        # The callbacks of the two events every patient brings, built once: simpy's step only
        # iterates over an event's callbacks, so one tuple serves all of them.
        self.on_wake, self.on_outcome = (self._wake,), (self._outcome,)
        self.accrual = accrual(setup.conduct, u, log is not None)
        self.lose = self._lose
        self.wake_at = math.inf
        self.dosed = self.replaced = self.halts = 0
        self.deaths = self.transplants = 0
        self.wait_days = 0.0
        self.halt_until = -math.inf
        # Design state: table id and the open cohort.
        self.state = 0
        self.serial = 0
        self.open_slots = 0
        self.pending = 0
        self.observed = self.observed_g2 = 0
        self.cohort_dlt = self.cohort_g2 = 0
        self.cohort_events = [0] * setup.n_events
        self.code = setup.code  # the open cohort's outcome codes, and the decisions met with them
        self.decided = setup.memo(setup.code)
        self.gate_open = True
        self.sentinel = -1
        self.total_n = self.total_dlt = 0
        self.n_dose = [0] * setup.table.n_doses
        self.y_dose = [0] * setup.table.n_doses
        self.events = [[0] * setup.table.n_doses for _ in range(setup.n_events)]
        self.end = math.nan
        self.selected = -1
        self.out_of_time = False

    # -- dosing ----------------------------------------------------------------------------------

    def _try_dose(self, now: float, reached: float = -math.inf) -> None:
        """Dose the patients who passed screening into the open cohort's free slots, first come
        first served, if the trial may dose at ``now`` (the clock's time); else, with slots open,
        wake up when the next patient passes screening.  ``reached``: a time the clock stands at
        though rounding may have left ``now`` a little short of it (a wake-up's)."""
        while self.open_slots and now >= self.halt_until:
            # Patients are met in the order they passed screening: none after those lost by now is.
            accrual, lost_before = self.accrual, now - self.s.max_wait
            if not (self.gate_open or self.sentinel < 0):
                if lost_before > -math.inf:
                    accrual.skip_before(lost_before, self.lose)
                return
            ready = accrual.next_ready(lost_before, self.lose)
            while ready <= now or ready <= reached:
                self._dose(accrual.patient, ready, now)
                if self.open_slots and (self.gate_open or self.sentinel < 0):
                    ready = accrual.take_then_peek()
                    continue
                accrual.take()
                if not self.open_slots:
                    self._check_decision(now)
                return
            if ready >= self.wake_at:
                return  # a wake-up is due by then
            at = now + (ready - now)  # as simpy would time a wake-up
            if at < self.next_event():
                # No event comes before the wake-up would: do now what it would do then, with the
                # same draws in the same order (the events it schedules carry their own times).
                self.wake_at = math.inf
                now, reached = at, ready
                continue
            self.wake_at = ready
            due = Due()
            due._value, due.at, due.callbacks = ready, at, self.on_wake
            self.push((at, NORMAL, self.next_id(), due))
            return

    def _wake(self, event: Due) -> None:
        ready = event._value
        if ready == self.wake_at:
            self.wake_at = math.inf
        self._try_dose(event.at, ready)

    def _after(
        self,
        now: float,
        delay: float,
        value: Any,
        callback: Callable[[Due], None],
        priority: int = NORMAL,
    ) -> None:
        """Call ``callback`` with an event of ``value`` in ``delay`` days from ``now``, before (lower
        ``priority``) or after the other events of that moment (simpy orders a moment's events by
        priority, then by scheduling order)."""
        due = Due()
        due._value, due.at, due.callbacks = value, now + delay, (callback,)
        self.push((due.at, priority, self.next_id(), due))

    def _lose(self, ready: float, i: int) -> None:
        if self.log is not None:
            self.log.append(LogRecord(ready + self.s.max_wait, "lost", i))

    def _risks(self, dose: int) -> tuple[float, float, float]:
        """The next patient's own P(DLT), P(event) and P(grade >= 2) at ``dose``, where
        :attr:`risks` is None."""
        raise NotImplementedError

    def _dose(self, i: int, ready: float, now: float) -> tuple[int, float, int, float, float]:
        """Dose patient ``i`` (passed screening at ``ready``) at ``now``; return the dose, the
        patient's uniform, the outcome of the window, its time and the time of an exit (days from
        the dose)."""
        s, u, risks = self.s, self.u, self.risks
        dose = s.dose[self.state]
        q, q_event, q_g2 = self._risks(dose) if risks is None else risks[dose]
        draw = u()
        outcome, t = _COMPLETE, s.window
        if draw < q:
            outcome = _SUSAR if s.halt_p and u() < s.halt_p else _DLT
            t = self._dlt_time(dose)
        elif draw < q_g2:
            outcome = _GRADE2
        exit_t = math.inf
        if s.disease:
            # Days to a death or transplant (:class:`~doseesc.conduct.DiseaseCourse`): the group,
            # then the inverse of its piecewise-constant cumulative hazard.
            h1, h2, cum1 = s.hazard[u() < s.aclf_fraction]
            e = -math.log(1.0 - u())
            exit_t = e / h1 if e < cum1 else (s.t1 + (e - cum1) / h2 if h2 > 0 else math.inf)
            if exit_t < t:
                t = exit_t
                if u() < s.transplant_share:
                    outcome = _TRANSPLANT
                    self.transplants += 1
                else:
                    outcome = _DEATH
                    self.deaths += 1
        if _DLT <= outcome <= _SUSAR:
            self.cohort_dlt += 1
            if s.n_events:
                self.cohort_events[0] += draw < q_event
        elif outcome == _GRADE2:
            self.cohort_g2 += 1
        self.dosed += 1
        if now > ready:
            self.wait_days += now - ready
        self.open_slots -= 1
        self.pending += 1
        due = Due()
        due._value, due.at, due.callbacks = (i, self.serial, outcome), now + t, self.on_outcome
        self.push((due.at, NORMAL, self.next_id(), due))
        if not self.gate_open and self.sentinel < 0:
            self.sentinel = i
            self._after(now, s.stagger, i, self._stagger_over)
        if self.log is not None:
            infusions = s.infusions[dose]
            for k in range(infusions):
                # An infusion is not given after the outcome (a DLT or an exit stops treatment).
                if k == 0 or k * s.interval <= t:
                    note = f"{k + 1} of {infusions}"
                    self.log.append(LogRecord(now + k * s.interval, "infusion", i, dose, note))
            self.log.append(LogRecord(now + t, _OUTCOME_KIND[outcome], i, dose, _OUTCOME_NOTE[outcome]))
        return dose, draw, outcome, t, exit_t

    def _dlt_time(self, dose: int) -> float:
        """Days from the first dose to a DLT at ``dose`` (``Conduct.dlt_onset``).  After an infusion:
        the one drawn from the model's per-infusion risks (:mod:`~doseesc.engines.events_infusions`),
        or, for a model without them (a table of probabilities per dose), each equally likely."""
        s = self.s
        if s.onset == "uniform":
            return s.window * self.u()
        if s.onset == "end":
            return s.window
        if self.cdf is None:
            infusion = int(self.u() * s.infusions[dose])
        else:
            u, cdf, infusion = self.u(), self.cdf[dose], 0
            while u >= cdf[infusion]:  # the level's last infusion has 1: the loop ends there
                infusion += 1
        return infusion * s.interval + s.onset_days * self.u()

    def _stagger_over(self, event: Due) -> None:
        if self.gate_open or self.sentinel != event._value:
            return  # a new cohort opened, or the sentinel left early and was replaced
        self.gate_open = True
        if self.log is not None:
            self.log.append(LogRecord(event.at, "sentinel_cleared", -1, self.s.dose[self.state]))
        self._try_dose(event.at)

    # -- outcomes and decisions ------------------------------------------------------------------

    def _outcome(self, event: Due) -> None:
        i, serial, outcome = event._value
        now = event.at
        if outcome == _SUSAR:
            self._halt(now)
        if serial != self.serial:
            return  # the cohort was decided early; this patient was counted then
        self.pending -= 1
        if outcome >= _DEATH:
            # Not evaluable: the slot reopens for a replacement (NCT05727722).
            self.open_slots += 1
            self.replaced += 1
            if self.sentinel == i and not self.gate_open:
                self.sentinel = -1
            if self.log is not None:
                self.log.append(LogRecord(now, "replaced", i, self.s.dose[self.state]))
            self._try_dose(now)
            return
        if outcome == _GRADE2:
            self.observed_g2 += 1
        elif outcome != _COMPLETE:
            self.observed += 1
        self._check_decision(now)

    def _halt(self, now: float) -> None:
        self.halts += 1
        self.halt_until = max(self.halt_until, now + self.s.halt_days)
        self._after(now, self.s.halt_days, None, self._halt_over)
        if self.log is not None:
            self.log.append(LogRecord(now, "halt"))

    def _halt_over(self, event: Due) -> None:
        if self.log is not None and event.at >= self.halt_until:
            self.log.append(LogRecord(event.at, "resume"))
        self._try_dose(event.at)

    def _check_decision(self, now: float) -> None:
        """Advance the design at ``now`` when the open cohort is decided (see the module docstring)."""
        s, open_slots = self.s, self.open_slots
        if open_slots and not s.close:
            return
        unknown = self.pending + open_slots
        if unknown and not s.early:
            return
        key = (self.state, self.observed, self.observed_g2, unknown)
        target = self.decided.get(key)
        if target is None:
            target = self.decided[key] = self._decided(self.code, key)
        if target >= 0:
            self._advance(target, now)

    def _advance(self, target: int, now: float) -> None:
        """The open cohort is decided at ``now``, the design going to the table id ``target``: tally
        the cohort, then end the trial or open the next cohort."""
        s = self.s
        k = self.cohort_dlt
        dose, size = s.dose[self.state], s.size[self.state]
        treated = size - self.open_slots
        self.outcomes.append(self.state * s.width + self.code[k][self.cohort_g2])
        self.n_dose[dose] += treated
        self.y_dose[dose] += k
        self.total_n += treated
        self.total_dlt += k
        for e, count in enumerate(self.cohort_events):
            self.events[e][dose] += count
        if self.log is not None:
            closed = size - treated
            note = f"{k}/{treated} DLT" + (f", {closed} slot{'s' * (closed > 1)} closed" if closed else "")
            self.log.append(LogRecord(now, "decision", -1, dose, note))
        if target >= s.n_live:
            self.end = now
            self.selected = target - s.n_live - 1
            raise TrialOver
        self._open_cohort(target, now)

    def _decided(self, code: list[list[int | None]], at: tuple[int, int, int, int]) -> int:
        """The next table id of the open cohort in ``state`` with ``seen`` DLTs and ``seen_g2`` grade-2
        toxicities observed and ``unknown`` patients still to show theirs (``at``), or -1 when their
        outcomes could lead to different ids."""
        s = self.s
        state, seen, seen_g2, unknown = at
        row = s.next[state]
        target = row[code[seen][seen_g2]]
        for a in range(unknown + 1):
            for b in range(unknown - a + 1 if s.grade2 else 1):
                if row[code[seen + a][seen_g2 + b]] != target:
                    return -1
        return target

    def _open_cohort(self, state: int, now: float) -> None:
        s = self.s
        self.state = state
        self.serial += 1
        self.open_slots = s.size[state]
        self.pending = self.observed = self.observed_g2 = self.cohort_dlt = self.cohort_g2 = 0
        self.cohort_events = [0] * s.n_events
        # A sentinel only at a dose level nobody has received yet, and only if others will follow.
        self.gate_open = not (s.stagger > 0 and s.n_before[state] == 0 and s.size[state] > 1)
        self.sentinel = -1
        if self.log is not None:
            self.log.append(LogRecord(now, "cohort", -1, s.dose[state], f"{s.size[state]} patients"))
        self._try_dose(now)

    # -- one whole trial -------------------------------------------------------------------------

    def _simulate(self) -> None:
        """Run the trial's events to the design's final decision or the horizon."""
        try:
            # Before the other events of that moment, as simpy's run(until=...) would; queued first,
            # so that no patient is dosed at once (_try_dose) past it.
            self._after(0.0, self.s.max_days, None, self._horizon, URGENT)
            self._open_cohort(0, 0.0)
            self.env.run()
        except TrialOver:
            pass

    def _horizon(self, event: Due) -> None:
        # A trial over several courses runs on after its end (events_courses): nothing to stop then.
        if math.isnan(self.end):
            self.end = event.at
            self.out_of_time = True
            raise TrialOver

    def run(self) -> tuple[float, ...]:
        """Simulate to the design's final decision; return the per-trial counts
        (:data:`~doseesc.engines.events_result.COUNTS` order, then the total waiting days of dosed
        patients)."""
        self._simulate()
        end = self.end
        screened, failures, in_screening, lost, waiting = self.accrual.finish(end, self.s.max_wait, self.lose)
        if self.log is not None:
            self._log_screening(end)
        # The events still queued and the callbacks bind the trial to itself: dropped, so that the
        # trial is freed as soon as it is read, not by the cyclic garbage collector.
        self.env = self.push = self.next_event = None
        self.on_wake = self.on_outcome = self.lose = None
        return (
            screened,
            failures,
            in_screening,
            self.dosed + lost + waiting,
            self.dosed,
            self.replaced,
            lost,
            waiting,
            self.deaths,
            self.transplants,
            self.halts,
            self.wait_days,
        )

    def _log_screening(self, end: float) -> None:
        """Add the arrival, screen-failure and eligibility records (known from the accrual lists) and
        the end."""
        a = self.accrual
        screening = []
        for i, t in enumerate(a.arrival):
            if t > end:
                break
            screening.append(LogRecord(t, "arrival", i))
            if a.ready[i] <= end:
                kind = "screen_failure" if a.failed[i] else "eligible"
                screening.append(LogRecord(a.ready[i], kind, i))
        # In front, so that the stable sort puts an arrival before what happened at the same time.
        self.log[:0] = screening
        if self.out_of_time:
            self.log.append(LogRecord(end, "out_of_time"))
        self.log.append(LogRecord(end, "end", -1, self.selected, "none" if self.selected < 0 else ""))
        self.log.sort(key=lambda r: r.time)


__all__ = ["Clock", "Due", "Trial", "TrialOver"]
