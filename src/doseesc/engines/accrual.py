"""The patients a trial's accrual brings, met lazily: in order of the end of screening, and only when
the trial has a slot for them.

The events engine asks three things of accrual: the next patient to pass screening, once the
patients whose waiting limit passed before a time are dropped (:meth:`next_ready`: they are lost;
:meth:`peek`, and :meth:`take` when the trial doses that patient), and, at the trial's end, how many
patients were screened, failed screening, were still in screening, had been lost or were still
waiting.  No arrival is a simulation event of its own.

:class:`PoissonAccrual` uses the memorylessness of Poisson accrual.  Arrivals at rate ``lambda``,
each screened for an independent time ``S`` and failing with probability ``f``, split (marking
theorem, Kingman, *Poisson Processes*, 1993, ch. 5) into independent Poisson processes: patients who
pass screening form a Poisson process in the time ``r`` they pass it, with cumulative intensity
``lambda (1 - f) G(r)``, ``G(r) = integral_0^r P(S <= x) dx``; by the end ``T`` the failures are
Poisson with mean ``lambda f G(T)`` and the patients still in screening Poisson with mean
``lambda (T - G(T))``.  So eligible patients are drawn one at a time (an exponential gap on the
``G`` scale) only while the trial doses them; a stretch of patients who all wait past their limit
is one Poisson count, and the counts at the end are three more.  The cost of a trial does not grow
with the accrual rate.

:class:`ArrivalList` draws every arrival (time, screening, failure) in batches, as a trial's event
log needs them (arrival and screening records with patient numbers), and for regular accrual, which
has no such memory-free form.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable

import numpy as np

from doseesc.conduct import Conduct

ARRIVAL_BATCH = 16
"""Arrivals :class:`ArrivalList` draws at a time (part of what a seed means)."""


class Uniforms:
    """Uniforms on [0, 1) from one generator, drawn in batches (a scalar numpy call costs more).
    ``draw()`` gives the next uniform; a batch is drawn only when its first uniform is asked for, so a
    count drawn from the generator ``gen`` in between (a Poisson count of :class:`PoissonAccrual`)
    comes from where the uniforms before it left it."""

    __slots__ = ("draw", "gen")

    BATCH = 4096

    def __init__(self, gen: np.random.Generator) -> None:
        self.gen = gen
        # A chain of batches: each uniform is one C-level call, a new batch drawn lazily.
        batches = iter(lambda: gen.random(self.BATCH).tolist(), None)
        self.draw: Callable[[], float] = itertools.chain.from_iterable(batches).__next__


Lost = Callable[[float, int], None]
"""Called with (time passed screening, patient number) for each patient lost individually."""


class PoissonAccrual:
    """Eligible patients of Poisson accrual, drawn lazily in the order they pass screening (see the
    module); patient numbers count eligible patients in that order.  ``patient``: the number of the
    patient :meth:`peek` gives; ``n_lost``: patients lost so far."""

    __slots__ = (
        "_d",
        "_f",
        "_g",
        "_half_d",
        "_lam",
        "_next",
        "_poisson",
        "_rate",
        "_u",
        "_uniform",
        "n_lost",
        "patient",
    )

    def __init__(self, conduct: Conduct, u: Uniforms) -> None:
        self._rate = conduct.accrual_per_day
        self._f = conduct.screen_failure
        self._lam = self._rate * (1.0 - self._f)
        self._d = conduct.screening_days
        self._uniform = conduct.screening == "uniform" and self._d > 0
        self._half_d = self._d / 2
        self._u = u.draw
        # Poisson counts as ints (a mean of 0 gives 0 and draws nothing).
        self._poisson = u.gen.poisson
        self._g = 0.0  # G-scale position up to which patients are drawn (or skipped)
        self._next: float | None = None  # the next patient's time, drawn but not taken
        self.patient = 0  # eligible patients met so far (taken or skipped)
        self.n_lost = 0

    def _G(self, r: float) -> float:
        d = self._d
        if r <= 0:
            return 0.0
        if self._uniform:
            return r * r / (2 * d) if r <= d else r - d / 2
        return max(0.0, r - d)

    def peek(self) -> float:
        """Time (days) the next eligible patient passes screening."""
        r = self._next
        if r is None:
            self._g = g = self._g - math.log(1.0 - self._u()) / self._lam
            # The inverse of G (once per patient dosed: inline).
            if self._uniform:
                half = self._half_d
                r = math.sqrt(2 * self._d * g) if g <= half else g + half
            else:
                r = g + self._d
            self._next = r
        return r

    def take(self) -> None:
        """The patient :meth:`peek` gave is dosed."""
        self._next = None
        self.patient += 1

    def take_then_peek(self) -> float:
        """:meth:`take`, then :meth:`peek`."""
        self.take()
        return self.peek()

    def next_ready(self, t: float, lost: Lost) -> float:
        """Drop the patients passing screening before ``t`` (lost), then :meth:`peek`: one call where
        the trial asks for both, at every chance to dose."""
        r = self._next
        if r is not None and r >= t:
            return r  # the usual case: the patient met last time is still waiting
        self.skip_before(t, lost)
        return self.peek()

    def skip_before(self, t: float, lost: Lost) -> None:
        """Drop the patients passing screening before ``t`` (lost)."""
        n = 0
        if self._next is not None:
            if self._next >= t:
                return
            n, self._next = 1, None
        g = self._G(t)
        if g > self._g:
            n += int(self._poisson(self._lam * (g - self._g)))
            self._g = g
        self.patient += n
        self.n_lost += n

    def finish(self, end: float, max_wait: float, lost: Lost) -> tuple[int, int, int, int, int]:
        """At the trial's end: (screened, screen failures, in screening, lost, still waiting) among
        the patients not taken, the lost counting those lost before."""
        if max_wait < math.inf:
            self.skip_before(end - max_wait, lost)
        waiting = 1 if self._next is not None and self._next <= end else 0
        g_end = self._G(end)
        if g_end > self._g:
            waiting += int(self._poisson(self._lam * (g_end - self._g)))
        failures = int(self._poisson(self._rate * self._f * g_end))
        in_screening = int(self._poisson(self._rate * (end - g_end)))
        enrolled = self.patient + waiting
        return enrolled + failures + in_screening, failures, in_screening, self.n_lost, waiting


class ArrivalList:
    """Every arrival drawn, ARRIVAL_BATCH at a time: time, end of screening, failure; eligible
    patients met in the order they pass screening; patient numbers count arrivals.  ``patient``: the
    number of the patient :meth:`peek` gives; ``n_lost``: patients lost so far."""

    def __init__(self, conduct: Conduct, u: Uniforms) -> None:
        self._conduct = conduct
        self._u = u.draw
        self.arrival: list[float] = []
        self.ready: list[float] = []
        self.failed: list[bool] = []
        self._heap: list[tuple[float, int]] = []  # eligible patients drawn, not met yet
        self.patient = -1
        self.n_lost = 0

    def _draw(self) -> None:
        c, u = self._conduct, self._u
        rate, poisson = c.accrual_per_day, c.accrual_process == "poisson"
        uniform = c.screening == "uniform" and c.screening_days > 0
        t = self.arrival[-1] if self.arrival else 0.0
        for _ in range(ARRIVAL_BATCH):
            t += -math.log(1.0 - u()) / rate if poisson else 1.0 / rate
            ready = t + (c.screening_days * u() if uniform else c.screening_days)
            failed = c.screen_failure > 0 and u() < c.screen_failure
            if not failed:
                heapq.heappush(self._heap, (ready, len(self.arrival)))
            self.arrival.append(t)
            self.ready.append(ready)
            self.failed.append(failed)

    def peek(self) -> float:
        # A later arrival passes screening after it arrives: the earliest drawn is final once it
        # is no later than the last arrival.
        while not self._heap or self._heap[0][0] > self.arrival[-1]:
            self._draw()
        ready, self.patient = self._heap[0]
        return ready

    def take(self) -> None:
        heapq.heappop(self._heap)

    def take_then_peek(self) -> float:
        self.take()
        return self.peek()

    def next_ready(self, t: float, lost: Lost) -> float:
        self.skip_before(t, lost)
        return self.peek()

    def skip_before(self, t: float, lost: Lost) -> None:
        while self.peek() < t:
            lost(*heapq.heappop(self._heap))
            self.n_lost += 1

    def finish(self, end: float, max_wait: float, lost: Lost) -> tuple[int, int, int, int, int]:
        while self.arrival[-1] <= end:
            self._draw()
        waiting = 0
        for ready, i in sorted(self._heap):
            if ready > end:
                break
            if ready + max_wait < end:
                lost(ready, i)
                self.n_lost += 1
            else:
                waiting += 1
        screened = sum(1 for a in self.arrival if a <= end)
        failures = sum(1 for i in range(screened) if self.failed[i] and self.ready[i] <= end)
        in_screening = sum(1 for i in range(screened) if self.ready[i] > end)
        return screened, failures, in_screening, self.n_lost, waiting


def accrual(conduct: Conduct, u: Uniforms, log: bool) -> PoissonAccrual | ArrivalList:
    """The accrual of one trial: every arrival when its log is kept or accrual is regular."""
    if log or conduct.accrual_process != "poisson":
        return ArrivalList(conduct, u)
    return PoissonAccrual(conduct, u)
