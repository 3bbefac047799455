"""A design's rule tabulated lazily: decisions computed for the states trials reach, on first arrival,
and kept.

:func:`~doseesc.designs.base.compile_design` tabulates every reachable state, which is what the
exact engine needs; a design with more states than that allows (a model-based design over many
cohorts of one, say) can still be simulated, because the trials of a run visit far fewer states
than exist.  :class:`LazyTable` starts with the start state only; :meth:`LazyTable.reach` runs the
rule (vectorized, with :func:`~doseesc.designs.base.expand`) on the states not seen before, so a
state revisited by another trial costs one look-up.  Ids depend on the order in which states are
met, so they mean nothing outside the table that made them; nothing random depends on them.
"""

from __future__ import annotations

import numpy as np

from doseesc.designs.base import NO_OUTCOME, Design, HashCollision, StateIndex, checked, expand, n_codes

MAX_LAZY_STATES = 5_000_000
"""States a lazy table may hold (about 100 to 200 bytes each)."""


class LazyTable:
    """The rule of ``design`` (with its limits) over the states reached so far.

    ``dose[s]``, ``size[s]``: the next cohort of live state ``s`` (valid once reached);
    ``next[s, code]``: the successor after outcome ``code``: a live id, or ``-(k + 2)`` for a stop
    selecting dose ``k`` (``-1``: none).
    """

    def __init__(self, design: Design) -> None:
        self.design = checked(design)
        self.n_doses = design.n_doses
        self.outcomes = tuple(design.outcomes)
        self.max_cohort = design.max_cohort
        fields = self.design.fields
        self._index = StateIndex(len(fields), salt=0)
        start = self.design.start()
        self._index.find_or_add(np.stack([start[f] for f in fields], axis=1))
        width = n_codes(self.design)
        self.dose = np.zeros(1024, dtype=np.intp)
        self.size = np.zeros(1024, dtype=np.intp)
        self.next = np.full((1024, width), NO_OUTCOME, dtype=np.int64)
        self._reached = np.zeros(1024, dtype=bool)

    @property
    def n_states(self) -> int:
        """States met so far (reached or only named as a successor)."""
        return self._index.n

    def reach(self, ids: np.ndarray) -> None:
        """Make sure the decisions of live states ``ids`` are tabulated."""
        todo = np.unique(ids[~self._reached[ids]])
        if todo.size == 0:
            return
        rows = self._index.rows[todo]
        try:
            successors, _ = expand(self.design, self._index, rows)
        except HashCollision:
            raise RuntimeError(
                "a hash collision while tabulating a design lazily: rerun with another seed"
            ) from None
        if self._index.n > MAX_LAZY_STATES:
            raise ValueError(
                f"{self.design.name}: the simulated trials reached more than {MAX_LAZY_STATES:,} distinct "
                "states; simulate fewer trials per run, or use fewer doses or a smaller max_n"
            )
        self._grow(self._index.n)
        fields = self.design.fields
        dose, size = self.design.cohort({f: rows[:, i] for i, f in enumerate(fields)})
        self.dose[todo], self.size[todo] = dose, size
        self.next[todo] = successors
        self._reached[todo] = True

    def adopt(self, partial: tuple[StateIndex, np.ndarray]) -> None:
        """Start from what a stopped full tabulation found (:class:`~doseesc.designs.base.TooManyStates`'s
        ``partial``): its states, and the decisions of those it expanded.  Only for a table that has
        reached nothing yet; results do not depend on it (ids mean nothing outside the table)."""
        if self._reached.any():
            raise RuntimeError("LazyTable.adopt: the table has already tabulated states")
        index, successors = partial
        if index.rows.shape[1] != len(self.design.fields) or successors.shape[1] != self.next.shape[1]:
            raise ValueError("LazyTable.adopt: the partial table is of another design")
        done = successors.shape[0]
        self._index = index
        self._grow(index.n)
        rows = index.rows[:done]
        dose, size = self.design.cohort({f: rows[:, i] for i, f in enumerate(self.design.fields)})
        self.dose[:done], self.size[:done] = dose, size
        self.next[:done] = successors
        self._reached[:done] = True

    def _grow(self, n: int) -> None:
        capacity = self.dose.shape[0]
        if n <= capacity:
            return
        new = max(n, 2 * capacity)
        self.dose = np.concatenate([self.dose, np.zeros(new - capacity, dtype=np.intp)])
        self.size = np.concatenate([self.size, np.zeros(new - capacity, dtype=np.intp)])
        pad = np.full((new - capacity, self.next.shape[1]), NO_OUTCOME, dtype=np.int64)
        self.next = np.concatenate([self.next, pad])
        self._reached = np.concatenate([self._reached, np.zeros(new - capacity, dtype=bool)])
