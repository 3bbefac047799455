"""The interval designs Keyboard, mTPI-2 and i3+3: one rule, three decision tables.

All three treat cohorts of ``cohort_size`` patients, start at ``start_dose``, never skip a dose and
run to ``N = max_n`` patients.  After a cohort at dose ``d``, with ``y`` DLTs among the ``n``
patients treated there so far, the equivalence interval ``EI = [target - eps1, target + eps2]``
gives a decision E (escalate), S (stay) or D (de-escalate); the designs differ only in that
decision, which depends on ``(n, y)`` alone and is tabulated once for ``n = 0 .. N``:

Keyboard (Yan, Mandrekar & Yuan, Clin Cancer Res 2017;23:3994-4003)
    Keys as wide as the target key ``EI`` are laid out from it towards 0 and 1; the strongest key
    is the one with the largest posterior probability under a Beta(1, 1) prior.  E if it lies
    below the target key, S if it is the target key, D if above.  Keys are complete keys only:
    the shorter pieces left over at 0 and 1 are not keys (the CRAN package ``Keyboard`` instead
    scores those pieces per unit width, which makes it mTPI-2 exactly).
mTPI-2 (Guo et al., Contemp Clin Trials 2017;58:23-33; arXiv:1609.08737)
    (0, 1) is cut into intervals as long as ``EI`` below and above it (the "Ockham's razor"
    intervals), the pieces left over at 0 and 1 included; the interval with the largest unit
    probability mass (posterior probability / length, Beta(1, 1) prior) gives E below ``EI``, S
    at ``EI``, D above.  Keyboard and mTPI-2 decide alike (checked for targets 0.15 to 0.5 and
    n <= 30 in the tests) except where a short end piece borders ``EI``: for ``target = 0.1``,
    0/3 stays under Keyboard and escalates under mTPI-2.
i3+3 (Liu, Wang & Ji, J Biopharm Stat 2020;30:294-304; arXiv:1901.01303)
    ``y/n`` below ``EI``: E; inside (bounds included): S; above: D, unless ``(y - 1)/n`` is below
    ``EI`` (then S).

Equal posterior scores (to rounding; e.g. a posterior symmetric about an interval bound) go to the
higher interval, the more cautious decision.  Shared by the three (the papers' and the BOIN
package's conventions):

* safety: a dose with ``n >= 3`` and ``P(p > target | Beta(1 + y, 1 + n - y)) > cutoff_eli`` is
  eliminated with every dose above it; the next cohort goes one dose lower, and the trial stops
  without a dose when the lowest is eliminated.  An eliminated dose is never treated again:
  escalating to one becomes "stay", as does escalating from the top dose or de-escalating from
  the lowest;
* selection when the ``N`` patients are done (:meth:`IntervalDesign.select`): isotonic regression
  of ``(y + 0.05) / (n + 0.1)`` weighted by the inverse Beta(0.05, 0.05) posterior variance over
  the treated, non-eliminated doses, then the dose whose estimate is closest to ``target`` with the
  BOIN package's tie-break (:mod:`doseesc.designs.isotonic`).  The Keyboard package uses exactly
  this; the mTPI-2 and i3+3 papers take mTPI's rule (isotonic estimates, closest to the target,
  ties towards the target), which differs only in the small prior pseudo-counts of the
  estimates.  One convention for the three keeps their operating characteristics comparable.

The state is ``dose`` (of the next cohort), its ``n`` and ``y``, and ``n0 ..``, ``y0 ..``, the
patients and DLTs of every dose: eliminated doses follow from these counts, so they are not stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from scipy.special import betainc, betaincc

from doseesc.designs.base import RUNNING, State
from doseesc.designs.common import CommonDesign, check_cohort_size, check_number
from doseesc.designs.isotonic import select_mtd

ESCALATE, STAY, DEESCALATE, ELIMINATE = 0, 1, 2, 3
DECISIONS = ("escalate", "stay", "deescalate", "eliminate")
"""Names of the decision codes, in code order (:meth:`IntervalDesign.decision_table`)."""
_TOL = 1e-9
"""Slack for comparisons of rounded interval bounds, and for equal posterior scores."""


@dataclass(frozen=True)
class IntervalDesign(CommonDesign):
    """The rule the interval designs share (module docstring); subclasses give :meth:`decide`.

    ``target``: the target P(DLT), in (0, 1); ``eps1``, ``eps2``: the equivalence interval
    ``[target - eps1, target + eps2]`` inside (0, 1) (default 0.05 each); ``cohort_size``: 1 to 12
    patients; ``cutoff_eli``: the posterior probability of overdosing above which a dose is
    eliminated, in (0.5, 1] (1: never).  ``max_n`` (the sample size N) is required.
    """

    max_n_limit = 500
    """Decisions are tabulated over n = 0 .. max_n (and the states grow fast long before that)."""

    target: float = 0.3
    cohort_size: int = 3
    eps1: float = 0.05
    eps2: float = 0.05
    cutoff_eli: float = 0.95

    outcomes = ("dlt",)
    name = "interval design"

    def __post_init__(self) -> None:
        check_cohort_size("cohort_size", self.cohort_size)
        check_number("target", self.target, 0, 1, strict=True)
        check_number("eps1", self.eps1, 0, self.target, " (below the target)", strict=True)
        check_number("eps2", self.eps2, 0, 1 - self.target, " (below 1 - target)", strict=True)
        check_number("cutoff_eli", self.cutoff_eli, 0.5, 1, " (1: never eliminate)")
        super().__post_init__()
        if self.max_n is None:
            raise ValueError(
                f"max_n is required for the {self.name} design (its trials end only at N patients)"
            )

    @property
    def options(self) -> dict[str, Any]:
        own = ("target", "cohort_size", "eps1", "eps2", "cutoff_eli")
        return {key: getattr(self, key) for key in own} | self.common_options()

    @property
    def max_cohort(self) -> int:
        return self.cohort_size

    @property
    def fields(self) -> tuple[str, ...]:
        doses = range(self.n_doses)
        return ("dose", "n", "y", *(f"n{k}" for k in doses), *(f"y{k}" for k in doses))

    def decide(self, n: int, y: np.ndarray) -> np.ndarray:
        """ESCALATE, STAY or DEESCALATE for each DLT count ``y`` among ``n >= 1`` patients."""
        raise NotImplementedError

    def codes_up_to(self, n_max: int) -> np.ndarray:
        """(n_max + 1, n_max + 1) decision code of ``y`` DLTs in ``n`` patients (``[n, y]``; -1 for
        ``y > n``): :meth:`decide`, or ELIMINATE where the safety rule removes the dose."""
        codes = np.full((n_max + 1, n_max + 1), -1, dtype=np.int64)
        codes[0, 0] = STAY
        for n in range(1, n_max + 1):
            y = np.arange(n + 1)
            overdose = betaincc(1 + y, 1 + n - y, self.target) > self.cutoff_eli
            codes[n, : n + 1] = np.where((n >= 3) & overdose, ELIMINATE, self.decide(n, y))
        return codes

    @cached_property
    def codes(self) -> np.ndarray:
        """:meth:`codes_up_to` ``max_n``, the table the rule looks up."""
        return self.codes_up_to(self.max_n)

    def decision_table(self, n_max: int | None = None) -> list[dict[str, Any]]:
        """For ``n = 1 .. n_max`` (default ``max_n``) patients at a dose, the DLT counts that
        escalate, stay, de-escalate and eliminate (keys :data:`DECISIONS`; "eliminate" also
        de-escalates)."""
        codes = self.codes_up_to(self.max_n if n_max is None else n_max)
        return [
            {"n": n} | {name: np.flatnonzero(codes[n] == c).tolist() for c, name in enumerate(DECISIONS)}
            for n in range(1, codes.shape[0])
        ]

    def boundaries(self, n_max: int | None = None) -> dict[str, np.ndarray]:
        """The decision table in BOIN's layout, for ``n = 1 .. n_max`` (default ``max_n``): escalate if
        ``y <= escalate[n]`` (-1: never), de-escalate if ``y >= deescalate[n]`` and eliminate if
        ``y >= eliminate[n]`` (``n + 1``: never).  A table whose decisions are not in that order
        (escalate, stay, de-escalate, eliminate as ``y`` grows) has no such layout: ValueError."""
        codes = self.codes_up_to(self.max_n if n_max is None else n_max)
        n = np.arange(1, codes.shape[0])
        rows = [codes[k, : k + 1] for k in n]
        if any(np.any(np.diff(row) < 0) for row in rows):
            raise ValueError(
                f"the {self.name} decisions are not monotone in the DLT count; see decision_table"
            )

        def first(row: np.ndarray, code: int) -> int:
            return int(np.argmax(row >= code)) if np.any(row >= code) else row.shape[0]

        return {
            "n": n,
            "escalate": np.array([first(row, STAY) - 1 for row in rows]),
            "deescalate": np.array([first(row, DEESCALATE) for row in rows]),
            "eliminate": np.array([first(row, ELIMINATE) for row in rows]),
        }

    def start(self) -> State:
        zeros = np.zeros((1, self.n_doses), dtype=np.int64)
        return self._state(np.full(1, self.start_dose), zeros, zeros, np.full(1, RUNNING))

    def cohort(self, state: State) -> tuple[np.ndarray, np.ndarray]:
        """Dose index and size of the next cohort of each trial."""
        return state["dose"], np.full_like(state["dose"], self.cohort_size)

    def update(self, state: State, outcome: dict[str, np.ndarray]) -> State:
        """The state after the next cohort showed ``outcome["dlt"]`` DLTs (leading trial axis)."""
        d = state["dose"]
        rows = np.arange(d.shape[0])
        n, y = self._counts(state)
        n[rows, d] += self.cohort_size
        y[rows, d] += outcome["dlt"]
        code = self.codes[n[rows, d], y[rows, d]]
        up = np.minimum(d + 1, self.n_doses - 1)
        up = np.where(self.codes[n[rows, up], y[rows, up]] == ELIMINATE, d, up)
        dose = np.where(code == ESCALATE, up, np.where(code == STAY, d, np.maximum(d - 1, 0)))
        return self._state(dose, n, y, np.where((code == ELIMINATE) & (d == 0), -1, RUNNING))

    def select(self, state: State) -> np.ndarray:
        """The dose named at the end: isotonic estimates over the treated, non-eliminated doses, the
        one closest to ``target`` (module docstring); -1 if there is none."""
        n, y = self._counts(state)
        eliminated = np.logical_or.accumulate(self.codes[n, y] == ELIMINATE, axis=1)
        return select_mtd(n, y, eliminated, self.target)

    def _counts(self, state: State) -> tuple[np.ndarray, np.ndarray]:
        """(trials, doses) patients and DLTs per dose (copies)."""
        doses = range(self.n_doses)
        return (
            np.stack([state[f"n{k}"] for k in doses], axis=1),
            np.stack([state[f"y{k}"] for k in doses], axis=1),
        )

    def _state(self, dose: np.ndarray, n: np.ndarray, y: np.ndarray, selected: np.ndarray) -> State:
        rows = np.arange(dose.shape[0])
        return (
            {"dose": dose, "n": n[rows, dose], "y": y[rows, dose]}
            | {f"n{k}": n[:, k] for k in range(self.n_doses)}
            | {f"y{k}": y[:, k] for k in range(self.n_doses)}
            | {"selected": selected}
        )


def _tiling(low: float, high: float, partial: bool) -> tuple[np.ndarray, int]:
    """Edges of the intervals as wide as ``[low, high]`` laid out from it towards 0 and 1 (with the
    shorter pieces left over at 0 and 1 if ``partial``), and the index of ``[low, high]``."""
    width = high - low
    below = int(np.floor(low / width + _TOL))
    above = int(np.floor((1 - high) / width + _TOL))
    first = [0.0] if partial and low - below * width > _TOL else []
    last = [1.0] if partial and 1 - high - above * width > _TOL else []
    edges = np.array(
        first
        + [low - k * width for k in range(below, -1, -1)]
        + [high + k * width for k in range(above + 1)]
        + last
    )
    edges = np.where(edges < _TOL, 0.0, np.where(edges > 1 - _TOL, 1.0, edges))
    return edges, len(first) + below


def _strongest(n: int, y: np.ndarray, edges: np.ndarray, per_unit_length: bool) -> np.ndarray:
    """Per ``y``, the index of the interval of ``edges`` with the largest Beta(1 + y, 1 + n - y)
    probability (divided by its length if ``per_unit_length``); ties go to the higher interval."""
    score = np.diff(betainc(1 + y[:, None], 1 + n - y[:, None], edges[None, :]), axis=1)
    if per_unit_length:
        score = score / np.diff(edges)
    top = score >= score.max(axis=1, keepdims=True) * (1 - _TOL)
    return score.shape[1] - 1 - np.argmax(top[:, ::-1], axis=1)


@dataclass(frozen=True)
class Keyboard(IntervalDesign):
    """The Keyboard design (Yan, Mandrekar & Yuan 2017): the strongest complete key against the
    target key (module docstring)."""

    name = "Keyboard"

    def decide(self, n: int, y: np.ndarray) -> np.ndarray:
        edges, key = _tiling(self.target - self.eps1, self.target + self.eps2, partial=False)
        return np.sign(_strongest(n, y, edges, per_unit_length=False) - key) + STAY


@dataclass(frozen=True)
class MTPI2(IntervalDesign):
    """The mTPI-2 design (Guo et al. 2017): the interval of largest unit probability mass against
    the equivalence interval (module docstring)."""

    name = "mTPI-2"

    def decide(self, n: int, y: np.ndarray) -> np.ndarray:
        edges, ei = _tiling(self.target - self.eps1, self.target + self.eps2, partial=True)
        return np.sign(_strongest(n, y, edges, per_unit_length=True) - ei) + STAY


@dataclass(frozen=True)
class I3plus3(IntervalDesign):
    """The i3+3 design (Liu, Wang & Ji 2020): ``y/n`` and ``(y - 1)/n`` against the equivalence
    interval (module docstring)."""

    name = "i3+3"

    def decide(self, n: int, y: np.ndarray) -> np.ndarray:
        low, high = (self.target - self.eps1) * n, (self.target + self.eps2) * n
        above = np.where(y - 1 < low - _TOL, STAY, DEESCALATE)
        return np.where(y < low - _TOL, ESCALATE, np.where(y > high + _TOL, above, STAY))
