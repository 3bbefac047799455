"""What every design provides, and its compilation into a transition table.

A design is a decision rule on array state (a ``dict`` of integer arrays with a leading trial
axis).  It answers, for every trial at once, the dose and size of the next cohort
(:meth:`Design.cohort`) and the state after that cohort showed a number of DLTs
(:meth:`Design.update`); the field ``selected`` is :data:`RUNNING` while the trial goes on, then the
index of the dose declared the MTD, or -1 for none.

Every engine consults the same rule.  :func:`compile_design` runs it once on every reachable state
(equal states merged) and tabulates the answers: the exact engine walks that table with
probabilities, and the Monte Carlo engine advances millions of trials with one table look-up per
cohort instead of re-evaluating the rule's arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np

State = dict[str, np.ndarray]

RUNNING = -2
"""Value of ``state["selected"]`` while a trial is still running."""

MAX_STATES = 1_000_000
MAX_COHORT = 3

OUTCOME_RANGES = {"dlt": MAX_COHORT + 1, "g2": MAX_COHORT + 1, "late_dlt": 2, "late_g2": 3}
"""Values each cohort outcome can take: first-course DLTs and grade-2 toxicities (only grade 2) in
the cohort's patients, then whether earlier patients had a DLT in a later course meanwhile (0/1)
and how many had a grade-2 toxicity (0, 1, 2 or more)."""
_NO_OUTCOME = np.iinfo(np.int64).min


class Design(Protocol):
    """A dose-escalation rule written on array state (see the module docstring)."""

    n_doses: int
    fields: tuple[str, ...]
    """Names of the state fields the rule reads; ``n`` and ``y`` (patients and DLTs so far at the
    dose of the next cohort) must be among them."""
    outcomes: tuple[str, ...]
    """What the rule reads of a cohort, among :data:`OUTCOME_RANGES`; ``dlt`` first."""

    @property
    def name(self) -> str: ...

    @property
    def options(self) -> dict[str, bool]: ...

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
    """The design's state fields of every live state (e.g. ``states["phase"]``)."""

    @property
    def n_live(self) -> int:
        return self.dose.shape[0]

    @property
    def max_size(self) -> int:
        return int(self.size.max())

    @property
    def outcome_shape(self) -> tuple[int, ...]:
        return tuple(OUTCOME_RANGES[name] for name in self.outcomes)

    def code(self, **values: int | np.ndarray) -> int | np.ndarray:
        """Outcome code of named values (``dlt=``, ``g2=``, ...; absent ones are 0)."""
        unknown = set(values) - set(OUTCOME_RANGES)
        if unknown:
            raise ValueError(f"unknown cohort outcome {sorted(unknown)}; allowed: {list(OUTCOME_RANGES)}")
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
        raise ValueError("the design's state graph has a cycle: a trial could run forever")


def _possible_outcomes(
    outcomes: tuple[str, ...], size: np.ndarray
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Every outcome a cohort of each size can show: (owner row, outcome values) pairs."""
    shape = tuple(OUTCOME_RANGES[name] for name in outcomes)
    grid = dict(zip(outcomes, np.indices(shape).reshape(len(outcomes), -1), strict=True))
    patients = grid["dlt"] + grid.get("g2", 0)
    owner, code = np.nonzero(patients[None, :] <= size[:, None])
    return owner, {name: v[code] for name, v in grid.items()} | {"code": code}


@lru_cache(maxsize=64)
def compile_design(design: Design) -> DecisionTable:
    """Tabulate ``design``'s rule over every state reachable from its start."""
    fields = design.fields
    ids: dict[bytes, int] = {}
    rows: list[np.ndarray] = []
    next_rows: list[np.ndarray] = []
    n_codes = int(np.prod([OUTCOME_RANGES[name] for name in design.outcomes]))

    start = design.start()
    frontier = np.stack([start[f] for f in fields], axis=1)
    ids[frontier[0].tobytes()] = 0
    rows.append(frontier)
    while frontier.shape[0]:
        state = {f: frontier[:, i] for i, f in enumerate(fields)}
        _, size = design.cohort(state)
        if size.max() > MAX_COHORT:
            raise ValueError(f"{design.name}: cohorts of more than {MAX_COHORT} patients are not supported")
        owner, outcome = _possible_outcomes(design.outcomes, size)
        code = outcome.pop("code")
        after = design.update({f: v[owner] for f, v in state.items()}, outcome)

        # Live ids are >= 0; a stop selecting dose k is stored as -(k + 2) until n_live is known.
        target = np.empty(owner.shape[0], dtype=np.int64)
        stopped = after["selected"] != RUNNING
        target[stopped] = -(after["selected"][stopped] + 2)
        live = np.stack([np.broadcast_to(after[f], owner.shape)[~stopped] for f in fields], axis=1)
        uniq, inverse = np.unique(live, axis=0, return_inverse=True)
        uniq_ids = np.empty(uniq.shape[0], dtype=np.int64)
        fresh = []
        for j, row in enumerate(uniq):
            key = row.tobytes()
            if key not in ids:
                ids[key] = len(ids)
                fresh.append(row)
            uniq_ids[j] = ids[key]
        if len(ids) > MAX_STATES:
            raise ValueError(f"{design.name} over {design.n_doses} doses has more than {MAX_STATES} states")
        target[~stopped] = uniq_ids[inverse.ravel()]

        table = np.full((frontier.shape[0], n_codes), _NO_OUTCOME, dtype=np.int64)
        table[owner, code] = target
        next_rows.append(table)
        frontier = np.array(fresh, dtype=np.int64).reshape(-1, len(fields))
        rows.append(frontier)

    n_live = len(ids)
    nxt = np.concatenate(next_rows, axis=0)
    nxt = np.where(nxt == _NO_OUTCOME, -1, np.where(nxt < 0, n_live - 1 - nxt, nxt)).astype(np.int32)

    all_rows = np.concatenate(rows, axis=0)
    state = {f: all_rows[:, i] for i, f in enumerate(fields)}
    dose, size = design.cohort(state)
    return DecisionTable(
        n_doses=design.n_doses,
        outcomes=tuple(design.outcomes),
        dose=dose.astype(np.intp),
        size=size.astype(np.intp),
        n_before=state["n"].astype(np.int64),
        y_before=state["y"].astype(np.int64),
        next=nxt,
        states=state,
    )
