"""Discrete-event simulation of trial conduct in calendar time, with simpy.

One trial is a :class:`simpy.Environment` whose events are: a wake-up when a slot is open and the
next patient passes screening, a dosed patient's outcome (DLT, end of the window, or death or
transplant first), the end of a sentinel's stagger period and the end of a safety review.  The
design is consulted only through its tabulated rule (:func:`doseesc.designs.compile_design`): the
current table id gives the dose and size of the open cohort, and ``table.next[id, code]`` the next
id once the cohort showed the outcome ``code`` (its DLT count; see below).  The conduct options and
their sources are in :class:`doseesc.conduct.Conduct`.

What each patient will do is drawn when it can first be known, so that one event per patient and
stage is enough.  Arrivals are no events at all (:mod:`doseesc.engines.accrual`): the trial meets
the patients who passed screening, in that order, only when it has a slot for them, and with Poisson
accrual it draws only the patients it
doses, counting the others (lost, still waiting, failed or in screening at the end) in bulk by the
memorylessness of Poisson arrivals; so a trial costs the same at any accrual rate.  A trial's patient
probabilities are read once, at its start, from the model's table for its kind (a posterior draw,
:class:`~doseesc.models.base.ToxicityModel`; the kinds of a block's trials are drawn in one batch);
at dosing, one uniform gives whether a DLT comes, then when, and when death or transplant would
come (the earliest of DLT, exit and window end is the patient's outcome event).  Waiting limits are
applied lazily: the queue is first come first served with one waiting limit for all, so a patient
whose limit has passed is met first when a slot opens, and counted as lost at the time the limit
passed.

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

Each patient receives the regimen of the level (``Conduct.infusions``, one count or one per level)
once, one course; a DLT after an infusion follows the infusion the model's per-infusion risks make
likely (:mod:`doseesc.engines.events_infusions`).  With ``courses=`` patients receive several
courses (:mod:`doseesc.engines.events_courses`), and designs that read later courses (``late_dlt``,
``late_g2``: accelerated titration design 4) run.  A grade-2 toxicity is counted at the end of the
patient's window (the worst grade over the window).  A trial still undecided when the clock reaches
``Conduct.max_days`` stops there: it ran out of time (:class:`EventsResult`).

Reproducibility: trials are grouped in blocks of :data:`BLOCK_TRIALS`; block ``b`` draws only from
child ``b`` of ``SeedSequence(seed)`` (its trials one after the other) and from that child's own
first child (the trials' kinds; over several courses its second child gives the patients' own
effects, one after the other).  The first trial of a run keeps its event log and so draws every
arrival (:class:`~doseesc.engines.accrual.ArrivalList`), the others do not.  A worker's task is a run of
whole blocks, so the result is bit-identical whatever the number of worker processes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import simpy
from simpy.core import NORMAL

from doseesc.conduct import RISK_DAYS, Conduct
from doseesc.designs.base import MAX_STATES, DecisionTable, Design, TooManyStates, compile_design
from doseesc.engines.accrual import Uniforms, accrual
from doseesc.engines.courses import CourseOptions
from doseesc.engines.events_infusions import first_infusion_cdf, level_regimens
from doseesc.engines.parallel import map_chunks, recorded_seed, split_blocks
from doseesc.engines.records import Records, check_records
from doseesc.metrics import PatientSplit, Target
from doseesc.models.base import ToxicityModel
from doseesc.models.table import DoseToxicityTable
from doseesc.results import OperatingCharacteristics, json_ready
from doseesc.streams import TrialStreams
from doseesc.tables import Tabular

BLOCK_TRIALS = 256
"""Trials per block, the unit of randomness (part of what a seed means: do not change lightly)."""
_CHUNK_BLOCKS = 4
"""Blocks per worker task: small enough to balance two or more workers and report progress."""

COUNTS = (
    "screened",
    "screen_failures",
    "in_screening_at_end",
    "enrolled",
    "dosed",
    "replaced",
    "lost_waiting",
    "waiting_at_end",
    "deaths",
    "transplants",
    "halts",
)
"""Per-trial patient counts (see :class:`EventsResult`)."""

# A dosed patient's outcome, drawn at dosing: window completed (without or with a grade-2
# toxicity), DLT (flagged SUSAR or not), or an exit from the window first.
_COMPLETE, _GRADE2, _DLT, _SUSAR, _DEATH, _TRANSPLANT = range(6)
_OUTCOME_KIND = ("window_complete", "window_complete", "dlt", "dlt", "death", "transplant")
_OUTCOME_NOTE = ("", "grade 2", "", "SUSAR", "", "")


class _Due:
    """A triggered simpy event, scheduled with :meth:`simpy.Environment.schedule` and processed by
    its ``step`` as any other: its callbacks are called with it, ``_value`` holds its value.  Only
    what ``step`` reads of an event (``callbacks``, ``_ok``), and no ``__init__``: one or two per
    patient, at about two-thirds of a :class:`simpy.events.Timeout`'s cost."""

    __slots__ = ("_value", "callbacks")
    _ok = True


class _Decided(Exception):
    """Raised inside an event callback when the design stops: ends the trial at once."""


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One event of a simulated trial.

    ``time`` in days since accrual opened; ``patient`` numbers patients in order of arrival (-1 for
    trial-level records); ``dose`` is a dose index (0 = lowest, -1 where none applies).  Kinds:

    * per patient: ``arrival`` (screening starts), ``screen_failure``, ``eligible`` (waiting
      starts), ``lost`` (waiting limit reached), ``infusion`` (``note``: "i of n"; the first starts
      the DLT window), ``dlt`` (``note`` "SUSAR" when it halts the trial), ``death``,
      ``transplant``, ``window_complete``, ``replaced`` (the slot of a patient who left the window
      without a DLT is reopened);
    * per trial: ``cohort`` (a cohort opens at ``dose``; ``note``: its size), ``sentinel_cleared``
      (the stagger period ended, the other slots open), ``decision`` (``note``: "k/m DLT" for
      ``k`` DLTs in ``m`` patients treated, and the closed slots, if any),
      ``halt`` (a safety review starts; a later DLT flagged SUSAR extends it), ``resume`` (the
      review is over), ``out_of_time`` (the clock reached ``Conduct.max_days`` undecided: just
      before ``end``), ``end`` (``dose``: the selected dose; ``note`` "none" when none is).

    Records after ``end`` are the rest of the windows of patients still being observed.
    """

    time: float
    kind: str
    patient: int = -1
    dose: int = -1
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "kind": self.kind,
            "patient": self.patient,
            "dose": self.dose,
            "note": self.note,
        }


class _Setup:
    """Everything the trials of a run share, as plain Python values (cheap to read in callbacks)."""

    def __init__(
        self, table: DecisionTable, model: ToxicityModel, conduct: Conduct, infusion_cdf: np.ndarray | None
    ) -> None:
        self.table = table
        self.model = model
        self.next = table.next.tolist()
        self.dose = table.dose.tolist()
        self.size = table.size.tolist()
        self.n_before = table.n_before.tolist()
        self.n_live = table.n_live
        self.width = table.next.shape[1]
        self.n_events = len(model.events)
        self.grade2 = "g2" in table.outcomes
        # (id of a code table, state, DLTs seen, grade 2 seen, patients unknown) -> the next id, or
        # -1 while undecided (Trial._decided), filled as trials meet them.
        self.decided: dict[tuple[int, int, int, int, int], int] = {}
        # code[dlt][g2]: the table's outcome code of a cohort (grade 2 ignored if the rule does not
        # read it); None where the cohort would need more patients than the table's largest cohort.
        m = table.max_cohort
        self.code = [
            [int(table.code(dlt=a, g2=b)) if a + b <= m else None for b in range(m + 1)] for a in range(m + 1)
        ]
        # Per trial kind: P(DLT), P(event) (or P(DLT) without an event) and P(grade >= 2) (or
        # P(DLT) when the design does not read grade 2), per dose, as lists (read per patient).
        table = model.probability_table
        rows = [
            table[:, 0],
            table[:, 1] if self.n_events else table[:, 0],
            table[:, -1] if self.grade2 else table[:, 0],
        ]
        self.kinds = np.stack(rows, axis=1)
        self.one_kind = self.kinds[0].tolist() if table.shape[0] == 1 else None

        c = conduct
        self.conduct = c
        self.max_wait = c.max_wait_days
        self.infusions = list(c.level_infusions(self.table.n_doses))  # per dose level
        self.interval = c.interval_days
        # Per trial kind and dose, P(first DLT after infusion <= k | DLT), read where DLTs follow an
        # infusion and the model gives per-infusion risks (else the infusion is uniform).
        self.infusion_cdf = infusion_cdf if c.dlt_onset == "after_infusion" else None
        self.one_cdf = None
        if self.infusion_cdf is not None and self.infusion_cdf.shape[0] == 1:
            self.one_cdf = self.infusion_cdf[0].tolist()
        self.stagger = c.stagger_days
        self.window = c.window_days
        self.onset = c.dlt_onset
        self.onset_days = c.onset_days
        self.early = c.cohort_decision != "complete"
        self.close = c.cohort_decision == "earliest"
        self.halt_p = c.halt_probability if c.halt_days > 0 else 0.0
        self.halt_days = c.halt_days
        self.max_days = float(c.max_days)
        d = c.disease
        self.disease = d is not None
        if d is not None:
            self.aclf_fraction = d.aclf_fraction
            self.transplant_share = d.transplant_share
            t1 = RISK_DAYS[0]
            # (h1, h2, cumulative hazard at Day 28) per group: index 1 = ACLF, 0 = AD.
            self.hazard = [(h1, h2, h1 * t1) for h1, h2 in (d.hazards(False), d.hazards(True))]


class _Trial:
    """One simulated trial: state, simpy callbacks and tallies."""

    def __init__(
        self, setup: _Setup, u: Uniforms, outcomes: list[int], kind: int, log: list[LogRecord] | None
    ) -> None:
        self.s = setup
        self.u = u.draw  # the next uniform: one C-level call
        self.outcomes = outcomes  # flat (state, DLT count) indices of decided cohorts, for the chunk
        self.q_dlt, self.q_event, self.q_g2 = setup.one_kind or setup.kinds[kind].tolist()
        self.cdf = setup.one_cdf or (
            None if setup.infusion_cdf is None else setup.infusion_cdf[kind].tolist()
        )
        self.log = log
        self.env = simpy.Environment(initial_time=0.0)
        self.schedule = self.env.schedule
        # The callbacks of the two events every patient brings, built once: simpy's step only
        # iterates over an event's callbacks, so one tuple serves all of them.
        self.on_wake, self.on_outcome = (self._wake,), (self._outcome,)
        self.accrual = accrual(setup.conduct, u, log is not None)
        self.wake_at = math.inf
        self.dosed = self.replaced = self.lost = self.halts = 0
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

    def _try_dose(self, reached: float = -math.inf) -> None:
        """Dose the patients who passed screening into the open cohort's free slots, first come
        first served, if the trial may dose now; else, with slots open, wake up when the next
        patient passes screening.  ``reached``: a time the clock stands at though rounding may have
        left ``env.now`` a little short of it (a wake-up's)."""
        now = self.env.now
        if not self.open_slots or now < self.halt_until:
            return
        accrual, max_wait = self.accrual, self.s.max_wait
        if max_wait < math.inf:
            # Patients are met in the order they passed screening: none after these is lost yet.
            self.lost += accrual.skip_before(now - max_wait, self._lose)
        dosed = False
        while self.open_slots and (self.gate_open or self.sentinel < 0):
            ready = accrual.peek()
            if ready > now and ready > reached:
                if ready < self.wake_at:
                    self.wake_at = ready
                    due = _Due()
                    due._value, due.callbacks = ready, self.on_wake
                    self.schedule(due, NORMAL, ready - now)
                break
            ready, i = accrual.take()
            self._dose(i, ready, now)
            dosed = True
        if dosed and not self.open_slots:
            self._check_decision()

    def _wake(self, event: _Due) -> None:
        ready = event._value
        if ready == self.wake_at:
            self.wake_at = math.inf
        self._try_dose(ready)

    def _after(
        self, delay: float, value: Any, callback: Callable[[_Due], None], priority: int = NORMAL
    ) -> None:
        """Call ``callback`` with an event of ``value`` in ``delay`` days, before (lower
        ``priority``) or after the other events of that moment (simpy orders a moment's events by
        priority, then by scheduling order)."""
        due = _Due()
        due._value, due.callbacks = value, [callback]
        self.schedule(due, priority, delay)

    def _lose(self, ready: float, i: int) -> None:
        if self.log is not None:
            self.log.append(LogRecord(ready + self.s.max_wait, "lost", i))

    def _risks(self, dose: int) -> tuple[float, float, float]:
        """The next patient's P(DLT), P(event) and P(grade >= 2) at ``dose`` (the trial kind's)."""
        return self.q_dlt[dose], self.q_event[dose], self.q_g2[dose]

    def _dose(self, i: int, ready: float, now: float) -> tuple[int, float, int, float, float]:
        """Dose patient ``i`` (passed screening at ``ready``) now; return the dose, the patient's
        uniform, the outcome of the window, its time and the time of an exit (days from the dose)."""
        s, u = self.s, self.u
        dose = s.dose[self.state]
        q, q_event, q_g2 = self._risks(dose)
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
            exit_t = e / h1 if e < cum1 else (RISK_DAYS[0] + (e - cum1) / h2 if h2 > 0 else math.inf)
            if exit_t < t:
                outcome, t = (_TRANSPLANT if u() < s.transplant_share else _DEATH), exit_t
                if outcome == _DEATH:
                    self.deaths += 1
                else:
                    self.transplants += 1
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
        due = _Due()
        due._value, due.callbacks = (i, self.serial, outcome), self.on_outcome
        self.schedule(due, NORMAL, t)
        if not self.gate_open and self.sentinel < 0:
            self.sentinel = i
            self._after(s.stagger, i, self._stagger_over)
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

    def _stagger_over(self, event: _Due) -> None:
        if self.gate_open or self.sentinel != event._value:
            return  # a new cohort opened, or the sentinel left early and was replaced
        self.gate_open = True
        if self.log is not None:
            self.log.append(LogRecord(self.env.now, "sentinel_cleared", -1, self.s.dose[self.state]))
        self._try_dose()

    # -- outcomes and decisions ------------------------------------------------------------------

    def _outcome(self, event: _Due) -> None:
        i, serial, outcome = event._value
        if outcome == _SUSAR:
            self._halt()
        if serial != self.serial:
            return  # the cohort was decided early; this patient was counted then
        if outcome >= _DEATH:
            # Not evaluable: the slot reopens for a replacement (NCT05727722).
            self.pending -= 1
            self.open_slots += 1
            self.replaced += 1
            if self.sentinel == i and not self.gate_open:
                self.sentinel = -1
            if self.log is not None:
                self.log.append(LogRecord(self.env.now, "replaced", i, self.s.dose[self.state]))
            self._try_dose()
            return
        self.pending -= 1
        if outcome == _GRADE2:
            self.observed_g2 += 1
        elif outcome != _COMPLETE:
            self.observed += 1
        self._check_decision()

    def _halt(self) -> None:
        now = self.env.now
        self.halts += 1
        self.halt_until = max(self.halt_until, now + self.s.halt_days)
        self._after(self.s.halt_days, None, self._halt_over)
        if self.log is not None:
            self.log.append(LogRecord(now, "halt"))

    def _halt_over(self, _event: _Due) -> None:
        if self.log is not None and self.env.now >= self.halt_until:
            self.log.append(LogRecord(self.env.now, "resume"))
        self._try_dose()

    def _check_decision(self) -> None:
        """Advance the design when the open cohort is decided (see the module docstring)."""
        s = self.s
        if self.open_slots and not s.close:
            return
        code = self._codes()
        unknown = self.pending + self.open_slots
        if unknown and not s.early:
            return
        # The code tables live as long as the setup, so their ids are stable keys.
        key = (id(code), self.state, self.observed, self.observed_g2, unknown)
        target = s.decided.get(key)
        if target is None:
            target = s.decided[key] = self._decided(code, key[1:])
        if target < 0:
            return
        k = self.cohort_dlt
        dose, size = s.dose[self.state], s.size[self.state]
        treated = size - self.open_slots
        self.outcomes.append(self.state * s.width + code[k][self.cohort_g2])
        self.n_dose[dose] += treated
        self.y_dose[dose] += k
        self.total_n += treated
        self.total_dlt += k
        for e, count in enumerate(self.cohort_events):
            self.events[e][dose] += count
        now = self.env.now
        if self.log is not None:
            closed = size - treated
            note = f"{k}/{treated} DLT" + (f", {closed} slot{'s' * (closed > 1)} closed" if closed else "")
            self.log.append(LogRecord(now, "decision", -1, dose, note))
        if target >= s.n_live:
            self.end = now
            self.selected = target - s.n_live - 1
            raise _Decided
        self._open_cohort(target)

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

    def _codes(self) -> list[list[int | None]]:
        """``codes[dlt][g2]``: the table's outcome code of the open cohort showing ``dlt`` DLTs and
        ``g2`` grade-2 toxicities."""
        return self.s.code

    def _open_cohort(self, state: int) -> None:
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
            self.log.append(LogRecord(self.env.now, "cohort", -1, s.dose[state], f"{s.size[state]} patients"))
        self._try_dose()

    # -- one whole trial -------------------------------------------------------------------------

    def _simulate(self) -> None:
        """Run the trial's events to the design's final decision or the horizon."""
        try:
            self._open_cohort(0)
            # Returns only at the horizon (else _Decided ends the run): the design has not decided.
            self.env.run(until=self.s.max_days)
            self.end = self.s.max_days
            self.out_of_time = True
        except _Decided:
            pass

    def run(self) -> tuple[float, ...]:
        """Simulate to the design's final decision; return the per-trial counts (:data:`COUNTS`
        order, then the total waiting days of dosed patients)."""
        self._simulate()
        end = self.end
        screened, failures, in_screening, lost, waiting = self.accrual.finish(
            end, self.s.max_wait, self._lose
        )
        self.lost += lost
        if self.log is not None:
            self._log_screening(end)
        return (
            screened,
            failures,
            in_screening,
            self.dosed + self.lost + waiting,
            self.dosed,
            self.replaced,
            self.lost,
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


@dataclass
class _Chunk:
    """What a run of blocks returns: integer tallies and per-trial figures, in trial order."""

    weights: np.ndarray  # (n_live, n_codes) cohorts per (state, outcome code)
    selected: np.ndarray  # (n_doses + 1,) index 0 = none
    total_n: np.ndarray  # (max_patients + 1,) trials per evaluable sample size
    total_dlt: np.ndarray  # (n,) per trial
    n_dose: np.ndarray  # (n, n_doses) patients treated per dose (evaluable slots), per trial
    y_dose: np.ndarray  # (n, n_doses) DLTs per dose, per trial
    selected_each: np.ndarray  # (n,) selected dose per trial (-1: none)
    events: np.ndarray  # (n_events, n, n_doses) per trial
    duration: np.ndarray  # (n,) days
    counts: np.ndarray  # (n, len(COUNTS))
    wait_days: np.ndarray  # (n,)
    out_of_time: np.ndarray  # (n,) bool: the trial reached the horizon undecided
    course_counts: np.ndarray | None  # (n, len(COURSE_COUNTS)) over several courses, else None
    log: list[LogRecord] | None


def _run_blocks(
    table: DecisionTable,
    model: ToxicityModel,
    conduct: Conduct,
    infusion_cdf: np.ndarray | None,
    plan: Any,
    blocks: Sequence[tuple[np.random.SeedSequence, int]],
    log_first: bool,
) -> _Chunk:
    """Simulate the trials of a run of blocks, each block's trials in order from its own generator;
    with a course plan (:class:`~doseesc.engines.events_courses.CoursePlan`), over several courses."""
    if plan is None:
        setup = _Setup(table, model, conduct, infusion_cdf)
    else:
        from doseesc.engines.events_courses import CourseSetup, CourseTrial

        setup = CourseSetup(table, model, conduct, infusion_cdf, plan)
    outcomes: list[int] = []
    selected, total_n, total_dlt, n_dose, y_dose, durations, rows, events = [], [], [], [], [], [], [], []
    out_of_time, course_counts = [], []
    log = None
    for seq, count in blocks:
        u = Uniforms(np.random.Generator(np.random.PCG64(seq)))
        # The trials' kinds (e.g. posterior draws) in one batch, from a child of the block's seed;
        # over several courses, the patients' own effects from a second child, one at a time.
        children = seq.spawn(1 if plan is None else 2)
        kinds = model.draw_trials(TrialStreams(children[:1], [count])).tolist()
        patients = None if plan is None else TrialStreams(children[1:], [1])
        for kind in kinds:
            trial_log = [] if log_first and log is None else None
            if plan is None:
                trial = _Trial(setup, u, outcomes, kind, trial_log)
            else:
                trial = CourseTrial(setup, u, outcomes, kind, trial_log, patients)
            rows.append(trial.run())
            if plan is not None:
                course_counts.append(trial.counts)
            log = log if trial_log is None else trial_log
            selected.append(trial.selected)
            total_n.append(trial.total_n)
            total_dlt.append(trial.total_dlt)
            n_dose.append(trial.n_dose)
            y_dose.append(trial.y_dose)
            durations.append(trial.end)
            events.append(trial.events)
            out_of_time.append(trial.out_of_time)
    n = len(rows)
    table_rows = np.array(rows, dtype=float).reshape(n, len(COUNTS) + 1)
    return _Chunk(
        weights=np.bincount(outcomes, minlength=table.n_live * setup.width).reshape(
            table.n_live, setup.width
        ),
        selected=np.bincount(np.array(selected) + 1, minlength=table.n_doses + 1),
        total_n=np.bincount(total_n, minlength=table.max_patients + 1),
        total_dlt=np.array(total_dlt, dtype=np.int64),
        n_dose=np.array(n_dose, dtype=np.int64).reshape(n, table.n_doses),
        y_dose=np.array(y_dose, dtype=np.int64).reshape(n, table.n_doses),
        selected_each=np.array(selected, dtype=np.int32),
        events=np.array(events, dtype=np.int64).reshape(n, setup.n_events, table.n_doses).transpose(1, 0, 2),
        duration=np.array(durations),
        counts=table_rows[:, :-1].astype(np.int64),
        wait_days=table_rows[:, -1],
        out_of_time=np.array(out_of_time, dtype=bool),
        course_counts=None if plan is None else np.array(course_counts, dtype=np.int64).reshape(n, -1),
        log=log,
    )


@dataclass(frozen=True)
class Summary:
    """Mean, standard deviation across trials and standard error of the mean of a per-trial figure."""

    mean: float
    sd: float
    se: float

    @classmethod
    def of(cls, values: np.ndarray) -> Summary:
        n = values.shape[0]
        sd = float(values.std(ddof=1)) if n > 1 else math.nan
        return cls(float(values.mean()), sd, sd / math.sqrt(n))


@dataclass(frozen=True)
class DurationSummary(Summary):
    """Trial duration in days (accrual opening to the design's final decision): moments and quantiles."""

    q25: float
    median: float
    q75: float
    q90: float

    @classmethod
    def of(cls, values: np.ndarray) -> DurationSummary:
        base = Summary.of(values)
        q25, q50, q75, q90 = np.quantile(values, [0.25, 0.5, 0.75, 0.9]).tolist()
        return cls(base.mean, base.sd, base.se, q25, q50, q75, q90)


@dataclass(frozen=True, eq=False)
class EventsResult(Tabular):
    """The events engine's answer: the design's operating characteristics and the conduct figures.

    ``counts[name]`` summarises patients per trial (:data:`COUNTS`), up to the final decision:
    ``screened`` (arrived and started screening), ``screen_failures``, ``in_screening_at_end``,
    ``enrolled`` (passed screening: ``dosed + lost_waiting + waiting_at_end``), ``dosed`` (received a
    first dose, replacements included), ``replaced`` (left the window without a DLT while their cohort
    was open, so the slot was given to another patient), ``lost_waiting``, ``waiting_at_end``,
    ``deaths`` and ``transplants`` (in the DLT window of a dosed patient, including windows still
    running at the final decision), ``halts`` (safety reviews started).  ``mean_wait_days`` is the
    mean time from eligibility to first dose over all dosed patients of all trials; ``log`` is the
    event log of the first trial.

    A trial still undecided when the clock reaches ``Conduct.max_days`` *ran out of time*
    (``out_of_time``, per trial): it ends there, selects no dose (so it is also in ``oc.p_none``),
    its duration is the horizon, and its per-dose figures count the cohorts the design decided (the
    patients of the cohort still open are in ``counts``, not in ``oc.mean_n``).  ``p_out_of_time``
    is their share, with its binomial standard error ``se_p_out_of_time``.
    """

    oc: OperatingCharacteristics
    conduct: Conduct
    duration: DurationSummary
    counts: dict[str, Summary]
    mean_wait_days: float
    log: tuple[LogRecord, ...]
    durations: np.ndarray
    """(n_trials,) duration of each trial in days, in trial order."""
    out_of_time: np.ndarray
    """(n_trials,) whether each trial reached ``Conduct.max_days`` undecided, in trial order."""
    courses: Any = None
    """Over several courses, the per-patient course figures
    (:class:`~doseesc.engines.events_courses.CourseFigures`); None for one course."""

    @property
    def p_out_of_time(self) -> float:
        """Share of trials that ran out of time."""
        return float(self.out_of_time.mean())

    @property
    def se_p_out_of_time(self) -> float:
        """Its binomial standard error, ``sqrt(p (1 - p) / n)``."""
        p = self.p_out_of_time
        return math.sqrt(p * (1.0 - p) / self.out_of_time.shape[0])

    def to_dict(self, *, include_log: bool = False) -> dict[str, Any]:
        """Plain JSON-ready dictionary (non-finite numbers as None): the operating characteristics'
        keys (``engine`` "events") plus ``conduct``, ``duration_days``, ``counts``,
        ``mean_wait_days``, ``p_out_of_time`` and ``se_p_out_of_time``; ``log`` on request."""
        out = self.oc.to_dict() | {
            "conduct": self.conduct.to_dict(),
            "duration_days": vars(self.duration),
            "counts": {name: vars(c) for name, c in self.counts.items()},
            "mean_wait_days": self.mean_wait_days,
            "p_out_of_time": self.p_out_of_time,
            "se_p_out_of_time": self.se_p_out_of_time,
        }
        if self.courses is not None:
            out |= self.courses.to_dict()
        if include_log:
            out["log"] = [r.to_dict() for r in self.log]
        return json_ready(out)


def run_events(
    design: Design,
    model: ToxicityModel | Sequence[float] | np.ndarray,
    conduct: Conduct,
    n_trials: int,
    seed: int | None = None,
    *,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
    target: Target | float | None = None,
    records: bool = False,
    courses: CourseOptions | None = None,
) -> EventsResult:
    """Simulate ``n_trials`` trials of ``design`` conducted as ``conduct``, in calendar time.

    ``model`` is a toxicity model, or a list of DLT probabilities per dose (every patient alike).
    ``seed`` (an integer, or None for fresh entropy, recorded in the result) fixes the answer bit for
    bit whatever ``jobs``, the number of worker processes.  ``progress``, if given, is called with the
    number of trials finished so far after each run of blocks.  ``target`` adds the metrics of
    :mod:`doseesc.metrics`; ``records`` keeps one record per trial, with its duration and whether it
    ran out of time (``result.oc.records``).  ``courses`` gives each patient several courses, one
    DLT window each (:mod:`doseesc.engines.events_courses`; a graded model, as for the course
    engine): accelerated titration with intrapatient escalation in calendar time.
    """
    target = Target.of(target, design)
    if records:
        check_records(n_trials)
    if not hasattr(model, "probability_table"):
        model = DoseToxicityTable(np.asarray(model, dtype=float))
    if model.n_doses != design.n_doses:
        raise ValueError(f"the toxicity model has {model.n_doses} doses but the design has {design.n_doses}")
    if {"late_dlt", "late_g2"} & set(design.outcomes) and courses is None:
        raise ValueError(
            f"the {design.name} design reads later courses; the events engine gives one course per "
            "patient unless given courses= (or use the course engine)"
        )
    if courses is not None and not hasattr(model, "grade_probabilities"):
        raise ValueError(
            "courses: the events engine draws each course's worst grade from a graded model (the "
            f"course engine's: a graded table or the latent toxicity model), not a {type(model).__name__}"
        )
    if "g2" in design.outcomes and not getattr(model, "grade2", False):
        raise ValueError(
            f"the {design.name} design counts grade-2 toxicities: the model must give their probability"
        )
    try:
        table = compile_design(design, getattr(design, "mc_max_states", MAX_STATES))
    except TooManyStates:
        raise ValueError(
            f"{design.name}: too many states for the calendar-time engine, which tabulates the whole rule "
            "first; use larger cohorts (--cohort-size 3) or a smaller max_n"
        ) from None
    root, tasks = split_blocks(n_trials, seed, _CHUNK_BLOCKS * BLOCK_TRIALS, jobs, BLOCK_TRIALS)
    # Only the first run of blocks keeps its first trial's event log.
    varying = [(t, i == 0) for i, t in enumerate(tasks)]
    infusion_cdf = _check_regimens(model, conduct, design.n_doses)
    plan = None
    if courses is not None:
        from doseesc.engines.events_courses import CoursePlan

        stride = getattr(design, "course_stride", lambda states: np.ones(table.n_live, dtype=np.int64))
        plan = CoursePlan(
            courses, tuple(int(x) for x in stride(table.states)), tuple(map(float, model.dose_values()))
        )
    fixed = (table, model, conduct, infusion_cdf, plan)
    chunks = _report(map_chunks(_run_blocks, fixed, varying, jobs), progress)

    weights = sum(c.weights for c in chunks)
    total_dlt = np.concatenate([c.total_dlt for c in chunks]).astype(float)
    n_dose = np.concatenate([c.n_dose for c in chunks]).astype(float)
    events = np.concatenate([c.events for c in chunks], axis=1)
    durations = np.concatenate([c.duration for c in chunks])
    counts = np.concatenate([c.counts for c in chunks])
    wait_days = np.concatenate([c.wait_days for c in chunks])
    oc = OperatingCharacteristics.from_sums(
        design=design,
        table=table,
        weights=weights,
        selected=sum(c.selected for c in chunks),
        total_n=sum(c.total_n for c in chunks),
        total_dlt=float(total_dlt.sum()),
        total_dlt_sq=float(total_dlt @ total_dlt),
        total_dlt_counts=np.bincount(total_dlt.astype(np.int64)),
        events={
            name: (
                events[e].sum(axis=0),
                (events[e] ** 2).sum(axis=0),
                float((events[e].sum(axis=1) ** 2).sum()),
            )
            for e, name in enumerate(model.events)
        },
        n_trials=n_trials,
        engine="events",
        p_tox=model.mean_probabilities(),
        seed=recorded_seed(root),
    )
    # from_sums counts every cohort at the table's size; a cohort decided before all its slots were
    # dosed ("earliest") treated fewer, so the patients per dose come from the per-trial counts.
    sd_n = n_dose.std(axis=0, ddof=1) if n_trials > 1 else np.full(table.n_doses, np.nan)
    oc = replace(oc, mean_n=n_dose.mean(axis=0), sd_n=sd_n)
    if target is not None:
        region = target.regions(oc.p_tox)
        x = np.stack(
            [n_dose[:, region == 1].sum(axis=1), n_dose[:, region == 2].sum(axis=1), n_dose.sum(axis=1)]
        )
        pmf = np.bincount(total_dlt.astype(np.int64)) / n_trials
        oc = oc.with_metrics(target, pmf, PatientSplit(x.sum(axis=1), x @ x.T))
    out_of_time = np.concatenate([c.out_of_time for c in chunks])
    if records:
        rec = Records(
            selected=np.concatenate([c.selected_each for c in chunks]),
            n=n_dose.astype(np.int32),
            y=np.concatenate([c.y_dose for c in chunks]).astype(np.int32),
            duration=durations,
        )
        frame = rec.to_frame()
        frame["out_of_time"] = out_of_time
        oc = replace(oc, records=frame)
    dosed = counts[:, COUNTS.index("dosed")].sum()
    return EventsResult(
        oc=oc,
        conduct=conduct,
        duration=DurationSummary.of(durations),
        counts={name: Summary.of(counts[:, j].astype(float)) for j, name in enumerate(COUNTS)},
        mean_wait_days=float(wait_days.sum() / dosed) if dosed else math.nan,
        log=tuple(chunks[0].log),
        durations=durations,
        out_of_time=out_of_time,
        courses=None if plan is None else _course_figures(courses, chunks),
    )


def _course_figures(options: CourseOptions, chunks: list[_Chunk]) -> Any:
    from doseesc.engines.events_courses import CourseFigures

    return CourseFigures.of(options, np.concatenate([c.course_counts for c in chunks]))


def _check_regimens(model: ToxicityModel, conduct: Conduct, n_doses: int) -> np.ndarray | None:
    """The model's P(first DLT after infusion <= k | DLT) per kind and level (None for a model
    without per-infusion risks), once the conduct's infusions agree with the model's regimens."""
    infusions = conduct.level_infusions(n_doses)
    regimens = level_regimens(model)
    if regimens is None:
        return None
    given = tuple(n for n, _ in regimens)
    intervals = {interval for n, interval in regimens if n > 1}
    if given != infusions or intervals - {conduct.interval_days}:
        shown = given[0] if len(set(given)) == 1 else list(given)
        raise ValueError(
            f"Conduct.infusions = {conduct.infusions!r}, interval_days = {conduct.interval_days:g}: the "
            f"toxicity model's regimen gives {shown} infusions per level, "
            f"{', '.join(f'{i:g}' for i in sorted(intervals)) or 'any number of'} days apart; allowed: the "
            "model's regimen"
        )
    return first_infusion_cdf(model)


def _report(chunks: Iterable[_Chunk], progress: Callable[[int], None] | None) -> list[_Chunk]:
    out = []
    done = 0
    for chunk in chunks:
        out.append(chunk)
        done += chunk.duration.shape[0]
        if progress is not None:
            progress(done)
    return out
