"""The design contract, and its compilation into a transition table.

A design is a decision rule on array state (a ``dict`` of integer arrays with a leading trial
axis).  The shared core (this module, :mod:`doseesc.results` and the engines) knows only what every
design has, and asks a design for nothing else:

``n_doses``
    Dose levels, indices ``0 .. n_doses-1`` in increasing dose.
``fields``
    Names of the state fields the rule reads.  ``n`` and ``y``, the patients and DLTs so far at the
    dose of the next cohort, must be among them (the engines count patients and DLTs per dose from
    them); any other field is the design's own business.
``outcomes``
    What the rule reads of a cohort, among :func:`outcome_ranges`' names: ``dlt`` first, then for
    example ``g2`` (grade-2 toxicities) for a design whose rule counts them.
``max_cohort``
    The largest cohort the rule ever asks for (1 to :data:`MAX_COHORT`).
``name``, ``options``
    A label and the parameters that distinguish the design (JSON-ready), for results.
``start()``
    The state before the first cohort (one trial).
``cohort(state)``
    Dose index and size of the next cohort of every trial.
``update(state, outcome)``
    The state after that cohort showed ``outcome`` (a dict of arrays, one per name in
    ``outcomes``).  The field ``selected`` is :data:`RUNNING` while the trial goes on, then the
    index of the dose declared the MTD, or -1 for none.

Optional, with defaults in :class:`~doseesc.designs.common.CommonDesign`:

``select(state)``
    The dose the design names if the trial ends now (used when ``max_n`` ends it).
``start_dose``, ``max_n``, ``stop_n_at_dose``
    The limits every design accepts (see :func:`with_limits`, which applies the last two).
``summaries(table, weights, n_trials)``
    Extra, design-specific figures (a JSON-ready dict) added to every result: for example the
    accelerated titration designs' switch dose and accelerated-phase patients.

Every engine consults the same rule.  :func:`compile_design` runs it once on every reachable state
(equal states merged) and tabulates the answers: the exact engine walks that table with
probabilities, the Monte Carlo engine advances millions of trials with one table look-up per
cohort, and the events engine consults it as outcomes arrive in calendar time.  A minimal design
written on this contract is in ``docs/designs.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

State = dict[str, np.ndarray]

RUNNING = -2
"""Value of ``state["selected"]`` while a trial is still running."""

MAX_STATES = 1_000_000
MAX_DEPTH = 5_000
"""Cohorts in a row after which a rule is taken never to end (no design needs nearly as many)."""
MAX_COHORT = 12
"""The largest cohort any design may ask for (the outcome codes grow with it)."""


def outcome_ranges(max_cohort: int) -> dict[str, int]:
    """Values each cohort outcome can take for cohorts of at most ``max_cohort`` patients:
    first-course DLTs and grade-2 toxicities (only grade 2) in the cohort's patients, then whether
    earlier patients had a DLT in a later course meanwhile (0/1) and how many had a grade-2
    toxicity (0, 1, 2 or more)."""
    return {"dlt": max_cohort + 1, "g2": max_cohort + 1, "late_dlt": 2, "late_g2": 3}


OUTCOMES = tuple(outcome_ranges(1))
"""Every cohort outcome a design may read."""
NO_OUTCOME = np.iinfo(np.int64).min
"""Marks a cohort outcome that cannot occur in a state (while tabulating)."""


class Design(Protocol):
    """A dose-escalation rule written on array state (see the module docstring)."""

    n_doses: int
    fields: tuple[str, ...]
    outcomes: tuple[str, ...]
    max_cohort: int

    @property
    def name(self) -> str: ...

    @property
    def options(self) -> dict[str, Any]: ...

    def start(self) -> State: ...

    def cohort(self, state: State) -> tuple[np.ndarray, np.ndarray]: ...

    def update(self, state: State, outcome: dict[str, np.ndarray]) -> State: ...


@dataclass(frozen=True, eq=False)
class DecisionTable:
    """A design's rule tabulated over its reachable states.

    Live states have ids ``0 .. n_live-1`` (0 is the start); a trial that stops with dose ``k``
    selected (``k = -1``: none) moves to the absorbing id ``n_live + 1 + k``.  A cohort's outcome
    is stored as one code, the flat index of its values over ``outcome_shape``.
    """

    n_doses: int
    outcomes: tuple[str, ...]
    max_cohort: int
    """The largest cohort the design may ask for: cohort outcomes are coded up to it."""
    dose: np.ndarray
    """(n_live,) dose index of the next cohort."""
    size: np.ndarray
    """(n_live,) number of patients in the next cohort."""
    n_before: np.ndarray
    """(n_live,) patients already treated at that dose."""
    y_before: np.ndarray
    """(n_live,) DLTs already observed at that dose."""
    next: np.ndarray
    """(n_live, n_codes) id after the cohort showed an outcome (-1 where impossible)."""
    states: dict[str, np.ndarray]
    """The design's state fields of every live state (read only by the design itself)."""

    @property
    def n_live(self) -> int:
        return self.dose.shape[0]

    @property
    def max_size(self) -> int:
        return int(self.size.max())

    @property
    def outcome_shape(self) -> tuple[int, ...]:
        ranges = outcome_ranges(self.max_cohort)
        return tuple(ranges[name] for name in self.outcomes)

    def code(self, **values: int | np.ndarray) -> int | np.ndarray:
        """Outcome code of named values (``dlt=``, ``g2=``, ...; absent ones are 0)."""
        unknown = set(values) - set(OUTCOMES)
        if unknown:
            raise ValueError(f"unknown cohort outcome {sorted(unknown)}; allowed: {list(OUTCOMES)}")
        read = [values.get(name, 0) for name in self.outcomes]
        return np.ravel_multi_index(tuple(np.asarray(v) for v in read), self.outcome_shape)

    def decode(self, name: str) -> np.ndarray:
        """(n_codes,) value of outcome ``name`` in each code (zeros if the design does not read it)."""
        grid = np.indices(self.outcome_shape).reshape(len(self.outcomes), -1)
        return (
            grid[self.outcomes.index(name)] if name in self.outcomes else np.zeros(grid.shape[1], dtype=int)
        )

    def advance(self, state: int | np.ndarray, dlt: int | np.ndarray, **other: int | np.ndarray):
        """Id after a cohort in live ``state`` showed ``dlt`` DLTs (and ``g2=`` ... where the design
        reads them); absorbing ids are ``>= n_live``."""
        return self.next[state, self.code(dlt=dlt, **other)]

    def selected(self, absorbing: int | np.ndarray) -> int | np.ndarray:
        """Dose index an absorbing id stands for (-1: no dose)."""
        return absorbing - self.n_live - 1

    @property
    def max_patients(self) -> int:
        """An upper bound on the patients one trial can enrol (longest path of the table)."""
        longest = np.zeros(self.n_live + self.n_doses + 1, dtype=np.int64)
        # Relax the longest-path bound until it settles; it cannot settle on a cyclic graph.
        for _ in range(self.n_live + 1):
            succ = np.where(self.next >= 0, self.next, self.n_live)
            best = np.max(longest[succ], axis=1) + self.size
            if np.array_equal(best, longest[: self.n_live]):
                return int(longest[0])
            longest[: self.n_live] = best
        raise ValueError("the design's state graph has a cycle: a trial could run forever (give it a max_n)")


def _possible_outcomes(
    outcomes: tuple[str, ...], size: np.ndarray, max_cohort: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Every outcome a cohort of each size can show: (owner row, outcome values) pairs."""
    ranges = outcome_ranges(max_cohort)
    shape = tuple(ranges[name] for name in outcomes)
    grid = dict(zip(outcomes, np.indices(shape).reshape(len(outcomes), -1), strict=True))
    patients = grid["dlt"] + grid.get("g2", 0)
    owner, code = np.nonzero(patients[None, :] <= size[:, None])
    return owner, {name: v[code] for name, v in grid.items()} | {"code": code}


@dataclass(frozen=True, eq=False)
class _Limited:
    """``design`` with the limits every design accepts applied on top of its own rule:

    ``max_n``
        The trial ends before a cohort that would take the number of patients past ``max_n``;
        the design names the dose it would select at that point (``design.select``).  The state
        gains the field ``total`` (patients so far).
    ``stop_n_at_dose``
        The trial ends before a cohort whose dose already holds at least that many patients, and
        that dose is selected (the usual "stop when n at the recommended dose reaches N").
    """

    design: Any
    max_n: int | None
    stop_n_at_dose: int | None

    def __getattr__(self, name: str) -> Any:
        if name == "design":  # not set yet (e.g. while unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.design, name)

    @property
    def fields(self) -> tuple[str, ...]:
        return (*self.design.fields, "total") if self.max_n is not None else self.design.fields

    def start(self) -> State:
        state = self.design.start()
        return state | {"total": np.zeros_like(state["n"])} if self.max_n is not None else state

    def update(self, state: State, outcome: dict[str, np.ndarray]) -> State:
        _, size = self.design.cohort(state)
        after = self.design.update(state, outcome)
        running = after["selected"] == RUNNING
        dose, next_size = self.design.cohort(after)
        selected = after["selected"]
        if self.stop_n_at_dose is not None:
            full = running & (after["n"] >= self.stop_n_at_dose)
            selected = np.where(full, dose, selected)
            running &= ~full
        if self.max_n is not None:
            total = state["total"] + size
            after = after | {"total": total}
            select = getattr(self.design, "select", None)
            named = select(after) if select else dose - 1  # the contract's default (CommonDesign)
            selected = np.where(running & (total + next_size > self.max_n), named, selected)
        return after | {"selected": selected}


def with_limits(design: Design) -> Design:
    """``design`` with its ``max_n`` and ``stop_n_at_dose`` applied (itself when it has neither)."""
    max_n, stop_n = getattr(design, "max_n", None), getattr(design, "stop_n_at_dose", None)
    return design if max_n is None and stop_n is None else _Limited(design, max_n, stop_n)


class HashCollision(Exception):
    """Two different states share a hash (about one chance in 10^6 for a million states)."""


class StateIndex:
    """Ids of the states found so far, looked up a whole batch at a time.

    Rows are found by a 64-bit hash (vectorized) and every match is checked against the stored
    row, so a hash collision is detected (:class:`HashCollision`) rather than merging two states.  New
    states get consecutive ids in lexicographic order of their fields within a batch.
    """

    _MIX = np.uint64(0xBF58476D1CE4E5B9)

    def __init__(self, width: int, salt: int) -> None:
        self.ids: dict[int, int] = {}
        self.rows = np.empty((1024, width), dtype=np.int64)
        self.n = 0
        self.salt = np.uint64(0x9E3779B97F4A7C15 ^ salt)

    def _hash(self, rows: np.ndarray) -> np.ndarray:
        h = np.full(rows.shape[0], self.salt, dtype=np.uint64)
        for column in rows.T.astype(np.uint64):  # negative values wrap, which is fine for a hash
            h = (h ^ column) * self._MIX
            h ^= h >> np.uint64(31)
        return h

    def find_or_add(self, live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ids of ``live``'s rows, and the rows that were new (in id order)."""
        keys, first, inverse = np.unique(self._hash(live), return_index=True, return_inverse=True)
        rep = live[first]
        if not np.array_equal(rep[inverse.ravel()], live):
            raise HashCollision
        found = np.fromiter((self.ids.get(k, -1) for k in keys.tolist()), np.int64, keys.shape[0])
        known = found >= 0
        if not np.array_equal(self.rows[found[known]], rep[known]):
            raise HashCollision
        new = np.flatnonzero(~known)
        new = new[np.lexsort(rep[new].T[::-1])]
        found[new] = self.n + np.arange(new.shape[0])
        self.ids.update(zip(keys[new].tolist(), found[new].tolist(), strict=True))
        while self.n + new.shape[0] > self.rows.shape[0]:
            self.rows = np.concatenate([self.rows, np.empty_like(self.rows)])
        self.rows[self.n : self.n + new.shape[0]] = rep[new]
        self.n += new.shape[0]
        return found[inverse.ravel()], rep[new]


class TooManyStates(ValueError):
    """The rule has more reachable states than the tabulation allows (the message says what to do).

    ``partial``: what the tabulation found before it stopped, ``(index, next)``: the
    :class:`StateIndex` of every state met and the successors of the first ``len(next)`` of them (the
    others were not expanded), for :class:`~doseesc.designs.lazy.LazyTable` to start from rather than
    recompute (a model-based rule's states each cost a posterior)."""

    partial: tuple[StateIndex, np.ndarray] | None = None


def _too_large(design: Design, n_states: int, depth: int, max_states: int) -> ValueError:
    """Why the rule cannot be enumerated, and what to do about it."""
    if getattr(design, "max_n", None) is None:
        return ValueError(
            f"{design.name} over {design.n_doses} doses: its trials need not end ({n_states:,} states after "
            f"{depth:,} cohorts); give it a max_n"
        )
    return TooManyStates(
        f"{design.name} over {design.n_doses} doses has more than {max_states:,} reachable states, too many "
        "for the exact engine; use the Monte Carlo engine (--engine mc), fewer doses or a smaller max_n"
    )


@lru_cache(maxsize=64)
def compile_design(design: Design, max_states: int = MAX_STATES) -> DecisionTable:
    """Tabulate ``design``'s rule, with its limits (:func:`with_limits`), over every state reachable
    from its start; :class:`TooManyStates` beyond ``max_states`` of them."""
    for salt in range(3):
        try:
            return _compile(design, salt, max_states)
        except HashCollision:
            continue
    raise RuntimeError("three hash collisions in a row while compiling a design: please report this")


def checked(design: Design) -> Design:
    """``design`` with its limits applied (:func:`with_limits`), after checking what the core
    relies on: cohort sizes, outcome names, the ``n`` and ``y`` fields."""
    max_cohort = design.max_cohort
    if not 1 <= max_cohort <= MAX_COHORT:
        raise ValueError(f"{design.name}: max_cohort must be between 1 and {MAX_COHORT}, got {max_cohort}")
    unknown = set(design.outcomes) - set(OUTCOMES)
    if design.outcomes[:1] != ("dlt",) or unknown:
        raise ValueError(f"{design.name}: outcomes must start with 'dlt' and be among {list(OUTCOMES)}")
    missing = {"n", "y"} - set(design.fields)
    if missing:
        raise ValueError(f"{design.name}: the state fields must include {sorted(missing)}")
    return with_limits(design)


def n_codes(design: Design) -> int:
    """Outcome codes of a cohort (the width of a table's ``next``)."""
    ranges = outcome_ranges(design.max_cohort)
    return int(np.prod([ranges[name] for name in design.outcomes]))


def expand(design: Design, index: StateIndex, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run the (limited) rule on the live states ``rows`` (one per row, ``design.fields`` order)
    for every cohort outcome: the successors per (row, outcome code), live ids from ``index`` (new
    states are added to it) or ``-(k + 2)`` for a stop selecting dose ``k`` (``NO_OUTCOME`` where the
    cohort cannot show that outcome), and the rows of the states that were new."""
    fields = design.fields
    state = {f: rows[:, i] for i, f in enumerate(fields)}
    _, size = design.cohort(state)
    if size.min() < 1 or size.max() > design.max_cohort:
        raise ValueError(
            f"{design.name}: asked for a cohort of {int(size.min())}-{int(size.max())} patients; "
            f"allowed: 1 to max_cohort = {design.max_cohort}"
        )
    owner, outcome = _possible_outcomes(design.outcomes, size, design.max_cohort)
    code = outcome.pop("code")
    after = design.update({f: v[owner] for f, v in state.items()}, outcome)
    target = np.empty(owner.shape[0], dtype=np.int64)
    stopped = after["selected"] != RUNNING
    target[stopped] = -(after["selected"][stopped] + 2)
    live = np.stack([np.broadcast_to(after[f], owner.shape)[~stopped] for f in fields], axis=1)
    target[~stopped], new = index.find_or_add(live)
    table = np.full((size.shape[0], n_codes(design)), NO_OUTCOME, dtype=np.int64)
    table[owner, code] = target
    return table, new


def _compile(design: Design, salt: int, max_states: int = MAX_STATES) -> DecisionTable:
    design = checked(design)
    fields = design.fields
    index = StateIndex(len(fields), salt)
    next_rows: list[np.ndarray] = []
    start = design.start()
    _, frontier = index.find_or_add(np.stack([start[f] for f in fields], axis=1))
    depth = 0
    while frontier.shape[0]:
        table, frontier = expand(design, index, frontier)
        next_rows.append(table)
        depth += 1
        if index.n > max_states or depth > MAX_DEPTH:
            error = _too_large(design, index.n, depth, max_states)
            if isinstance(error, TooManyStates):
                error.partial = (index, np.concatenate(next_rows, axis=0))
            raise error

    n_live = index.n
    nxt = np.concatenate(next_rows, axis=0)
    nxt = np.where(nxt == NO_OUTCOME, -1, np.where(nxt < 0, n_live - 1 - nxt, nxt)).astype(np.int32)

    state = {f: index.rows[:n_live, i].copy() for i, f in enumerate(fields)}
    dose, size = design.cohort(state)
    return DecisionTable(
        n_doses=design.n_doses,
        outcomes=tuple(design.outcomes),
        max_cohort=design.max_cohort,
        dose=dose.astype(np.intp),
        size=size.astype(np.intp),
        n_before=state["n"].astype(np.int64),
        y_before=state["y"].astype(np.int64),
        next=nxt,
        states=state,
    )
