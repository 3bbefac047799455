"""The Bayesian optimal interval (BOIN) design (Liu & Yuan, J R Stat Soc C 2015;64:507-23), as the R
package BOIN (2.7.x: ``get.boundary``, ``get.oc``, ``select.mtd``) runs it.

Cohorts of ``cohort_size`` start at ``start_dose``; the trial has ``max_n = N`` patients (R's
``ncohort * cohortsize``, so ``max_n`` must be a multiple of the cohort size).  With ``n_d`` patients
and ``y_d`` DLTs so far at the current dose ``d`` and target ``T``:

Boundaries (``get.boundary``)
    ``lambda_e = log((1-p_saf)/(1-T)) / log(T(1-p_saf) / (p_saf(1-T)))`` and ``lambda_d =
    log((1-T)/(1-p_tox)) / log(p_tox(1-T) / (T(1-p_tox)))``; escalate when ``y <= floor(lambda_e n)``,
    de-escalate when ``y > lambda_d n`` (an integer ``lambda_d n``, to within 1e-12, counts as
    reached: de-escalate from ``lambda_d n + 1``).  From ``n = 3`` a dose is eliminated when
    ``P(p > T | Beta(1+y, 1+n-y)) > cutoff_eli``, i.e. from the smallest ``y >= 1`` reaching it;
    the de-escalation count is lowered to the elimination count where that is smaller.
One trial (``get.oc``)
    After each cohort that does not complete the trial: the elimination check (doses ``d`` and
    above are never treated again; at the lowest dose the trial stops with no MTD; with
    ``extrasafe``, also when ``P(p_1 > T | data) > cutoff_eli - offset`` at the lowest dose, checked
    where an elimination count exists for ``n_1``, as in R); then the ``n_earlystop`` stop (the
    current dose holds at least that many patients and the decision would keep it: stay,
    de-escalate at the lowest dose, escalate at the top dose or below an eliminated one); then
    escalate / de-escalate / stay by one level.  The cohort that brings the total to ``N`` skips
    all of this and the final selection runs.
Final selection (``select.mtd``)
    Elimination again on the final counts (lowest dose ``j`` with ``n_j >= 3`` and ``P(p_j > T) >
    cutoff_eli``; with ``extrasafe``, the lowest dose at ``cutoff_eli - offset``); no MTD if the
    lowest dose is eliminated; otherwise the treated, non-eliminated dose whose isotonic estimate
    (:mod:`doseesc.designs.isotonic`, estimates ``(y+0.05)/(n+0.1)`` weighted by their inverse
    variances) is closest to the target, with R's ``1e-10 * k`` tie-break.

How the trial length is applied: the core's generic ``max_n`` ends the trial before a cohort that
would exceed ``N`` and asks :meth:`BOIN.select`, which is the final selection.  The rule itself
runs its checks after the last cohort too, but they cannot change the answer: they stop the trial
with no MTD only when the final selection finds the lowest dose eliminated as well, and the
``n_earlystop`` stop selects by the final selection.  R reports early stops (``99``) and final
"no MTD" together, as does ``p_none`` here.

The state is the current dose and every dose's cumulative ``n`` and ``y`` (fields ``n0, y0, n1,
y1, ...``; ``n`` and ``y`` repeat the current dose's, as the contract asks): which doses are
eliminated follows from the counts, since a dose is checked each time a cohort is recorded at it
and never treated after elimination, so it is not a separate field and equal histories merge.

Not reproduced (R options absent here): ``get.oc``'s accelerated ``titration`` and ``select.mtd``'s
``boundMTD`` (both off by default in R).  Parameter ranges are R's (``target`` 0.05 to 0.6,
``p_saf``/``p_tox`` at least 10% of the target away from it, ``offset`` below 0.5), and a
``cutoff_eli`` so low that some DLT count would both eliminate and escalate is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from scipy.stats import beta

from doseesc.designs.base import RUNNING, State
from doseesc.designs.common import CommonDesign, check_cohort_size, check_int, check_number
from doseesc.designs.counts import count_fields, stack_counts, unstack_counts
from doseesc.designs.isotonic import select_mtd

INTEGER_TOLERANCE = 1e-12
"""``lambda_d n`` this close to an integer counts as that integer (R's ``get.boundary``)."""


def lambda_e(target: float, p_saf: float) -> float:
    """The escalation boundary on the observed DLT rate (Liu & Yuan 2015, eq. 2)."""
    return math.log((1 - p_saf) / (1 - target)) / math.log(target * (1 - p_saf) / (p_saf * (1 - target)))


def lambda_d(target: float, p_tox: float) -> float:
    """The de-escalation boundary on the observed DLT rate (Liu & Yuan 2015, eq. 2)."""
    return math.log((1 - target) / (1 - p_tox)) / math.log(p_tox * (1 - target) / (target * (1 - p_tox)))


def posterior_tail(target: float, n_max: int) -> np.ndarray:
    """``(n_max+1, n_max+1)`` table of ``P(p > target | y DLTs in n)`` under a uniform prior,
    ``[n, y]`` (zero where ``y > n``)."""
    n, y = np.indices((n_max + 1, n_max + 1))
    return np.where(y <= n, beta.sf(target, 1 + y, 1 + np.maximum(n - y, 0)), 0.0)


def boundary_counts(
    target: float, n_max: int, p_saf: float, p_tox: float, cutoff_eli: float
) -> dict[str, np.ndarray]:
    """The DLT counts of R's ``get.boundary`` for ``n = 0 .. n_max`` patients at a dose: escalate
    if ``y <= escalate[n]``, de-escalate if ``y >= deescalate[n]``, eliminate if ``y >=
    eliminate[n]`` (``n + 1`` where no count eliminates: below ``n = 3``, or no ``y`` in ``1..n``
    reaches ``cutoff_eli``)."""
    n = np.arange(n_max + 1)
    scaled = lambda_d(target, p_tox) * n
    nearest = np.round(scaled)
    deescalate = np.where(np.abs(nearest - scaled) < INTEGER_TOLERANCE, nearest + 1, np.ceil(scaled))
    tail = posterior_tail(target, n_max)
    reaches = (tail > cutoff_eli) & (np.arange(n_max + 1) >= 1) & (n[:, None] >= 3)
    eliminate = np.where(reaches.any(axis=1), np.argmax(reaches, axis=1), n + 1)
    return {
        "n": n,
        "escalate": np.floor(lambda_e(target, p_saf) * n).astype(np.int64),
        "deescalate": np.minimum(deescalate.astype(np.int64), eliminate),
        "eliminate": eliminate,
    }


@dataclass(frozen=True)
class BOIN(CommonDesign):
    """The BOIN design over ``n_doses`` levels (see the module docstring); R's defaults.

    ``target``: target P(DLT), 0.05 to 0.6 (R's range).  ``cohort_size``: 1 to 12.  ``max_n``: the
    sample size N, a multiple of ``cohort_size`` (default 30: 10 cohorts of 3).  ``p_saf``,
    ``p_tox``: the highest P(DLT) deemed subtherapeutic and the lowest deemed overly toxic (default
    0.6 and 1.4 times the target; at least 10% of the target away from it, as R requires).
    ``cutoff_eli``: posterior probability of P(DLT) above the target that eliminates a dose (0.5 to
    0.99; default 0.95).  ``extrasafe``, ``offset``: the stricter stop at the lowest dose
    (``offset`` 0 to 0.5, below R's refused 0.5).  ``n_earlystop``: patients at the current dose
    that end the trial when the decision would keep it (default 100: never with N <= 100).
    """

    max_n_limit = 500
    """Decisions are tabulated over n = 0 .. max_n (and the states grow fast long before that)."""

    target: float = 0.3
    cohort_size: int = 3
    max_n: int | None = field(default=30, kw_only=True)
    p_saf: float | None = None
    p_tox: float | None = None
    cutoff_eli: float = 0.95
    extrasafe: bool = False
    offset: float = 0.05
    n_earlystop: int = 100

    outcomes = ("dlt",)

    def __post_init__(self) -> None:
        check_number("target", self.target, 0.05, 0.6, " (the R package BOIN's range)")
        check_cohort_size("cohort_size", self.cohort_size)
        check_number("p_saf", self.phi_1, 1e-6, 0.9 * self.target, " (at most 0.9 times the target)")
        check_number("p_tox", self.phi_2, 1.1 * self.target, 1 - 1e-6, " (at least 1.1 times the target)")
        check_number("cutoff_eli", self.cutoff_eli, 0.5, 0.99)
        check_number("offset", self.offset, 0.0, 0.49, " (R refuses 0.5 and above)")
        if not isinstance(self.extrasafe, bool):
            raise ValueError(f"extrasafe must be true or false, got {self.extrasafe!r}")
        check_int("n_earlystop", self.n_earlystop, 1, 10_000)
        if self.max_n is None:
            raise ValueError("max_n must be given: it is BOIN's sample size N (cohorts x cohort_size)")
        super().__post_init__()
        if self.max_n % self.cohort_size:
            raise ValueError(
                f"max_n must be a multiple of cohort_size = {self.cohort_size} (BOIN's sample size N is "
                f"cohorts x cohort_size), got {self.max_n}"
            )
        t = self._counts
        clash = np.flatnonzero(t["eliminate"] <= t["escalate"])
        if clash.size:
            n = int(clash[0])
            raise ValueError(
                f"cutoff_eli must be higher for these boundaries: at n = {n}, y = {int(t['eliminate'][n])} "
                "DLTs would both eliminate the dose and escalate (raise cutoff_eli or lower p_saf), "
                f"got {self.cutoff_eli}"
            )

    @property
    def phi_1(self) -> float:
        """``p_saf``, or its default 0.6 times the target."""
        return 0.6 * self.target if self.p_saf is None else self.p_saf

    @property
    def phi_2(self) -> float:
        """``p_tox``, or its default 1.4 times the target."""
        return 1.4 * self.target if self.p_tox is None else self.p_tox

    @property
    def name(self) -> str:
        return "BOIN"

    @property
    def options(self) -> dict[str, Any]:
        defaults = {
            "p_saf": None,
            "p_tox": None,
            "cutoff_eli": 0.95,
            "extrasafe": False,
            "offset": 0.05,
            "n_earlystop": 100,
        }
        given = {
            key: getattr(self, key) for key, default in defaults.items() if getattr(self, key) != default
        }
        return {"target": self.target, "cohort_size": self.cohort_size} | given | self.common_options()

    @property
    def max_cohort(self) -> int:
        return self.cohort_size

    @property
    def fields(self) -> tuple[str, ...]:
        return ("dose", "n", "y", *count_fields(self.n_doses))

    def boundaries(self, n_max: int | None = None) -> dict[str, np.ndarray]:
        """The decision table for ``n = 1 .. n_max`` patients at a dose (default ``max_n``): the
        escalation, de-escalation and elimination DLT counts (:func:`boundary_counts`)."""
        n_max = self.max_n if n_max is None else n_max
        table = boundary_counts(self.target, n_max, self.phi_1, self.phi_2, self.cutoff_eli)
        return {key: column[1:] for key, column in table.items()}

    @cached_property
    def _counts(self) -> dict[str, np.ndarray]:
        """Boundary counts and posterior tails for ``n = 0 .. max_n`` (the most a dose can hold)."""
        table = boundary_counts(self.target, self.max_n, self.phi_1, self.phi_2, self.cutoff_eli)
        return table | {"tail": posterior_tail(self.target, self.max_n)}

    def start(self) -> State:
        state = {f: np.zeros(1, dtype=np.int64) for f in self.fields}
        return state | {"dose": np.full(1, self.start_dose), "selected": np.full(1, RUNNING)}

    def cohort(self, state: State) -> tuple[np.ndarray, np.ndarray]:
        """Dose index and size of the next cohort of each trial."""
        return state["dose"], np.full_like(state["dose"], self.cohort_size)

    def per_dose(self, state: State) -> tuple[np.ndarray, np.ndarray]:
        """``(trials, n_doses)`` cumulative patients and DLTs at every dose."""
        return stack_counts(state, self.n_doses)

    def update(self, state: State, outcome: dict[str, np.ndarray]) -> State:
        """The state after the next cohort showed ``outcome["dlt"]`` DLTs (``get.oc``'s loop body)."""
        t = self._counts
        d = state["dose"]
        rows = np.arange(d.shape[0])
        n, y = self.per_dose(state)
        n[rows, d] += self.cohort_size
        y[rows, d] += outcome["dlt"]
        nd, yd = n[rows, d], y[rows, d]

        eliminated = np.logical_or.accumulate(y >= t["eliminate"][n], axis=1)
        lowest = d == 0
        no_mtd = lowest & eliminated[:, 0]
        if self.extrasafe:
            checked = t["eliminate"][nd] <= nd
            no_mtd |= lowest & checked & (t["tail"][nd, yd] > self.cutoff_eli - self.offset)

        top = d == self.n_doses - 1
        above_eliminated = eliminated[rows, np.minimum(d + 1, self.n_doses - 1)] | top
        low, high = yd <= t["escalate"][nd], yd >= t["deescalate"][nd]
        keep = (~low & ~high) | (lowest & high) | (above_eliminated & low)
        early = (nd >= self.n_earlystop) & keep & ~no_mtd

        up = low & ~top & ~above_eliminated
        down = ~(low & ~top) & high & ~lowest
        dose = d + up - down
        selected = np.where(no_mtd, -1, RUNNING)
        if early.any():
            selected[early] = self.final_selection(n[early], y[early])
        after = {"dose": dose, "n": n[rows, dose], "y": y[rows, dose], "selected": selected}
        return after | unstack_counts(n, y)

    def select(self, state: State) -> np.ndarray:
        """The final selection, the dose named when ``max_n`` completes the trial."""
        return self.final_selection(*self.per_dose(state))

    def final_selection(self, n: np.ndarray, y: np.ndarray) -> np.ndarray:
        """R's ``select.mtd`` on ``(trials, n_doses)`` final counts: the MTD's index, -1 for none."""
        tail = self._counts["tail"][n, y]
        eliminated = np.logical_or.accumulate((n >= 3) & (tail > self.cutoff_eli), axis=1)
        if self.extrasafe:
            eliminated |= ((n[:, 0] >= 3) & (tail[:, 0] > self.cutoff_eli - self.offset))[:, None]
        return select_mtd(n, y, eliminated, self.target)
