"""The state the model-based designs share: the next dose, every dose's patients and DLTs, and the
selection the data so far give.

A model-based rule (the CRM, the BLRM) decides from every dose's counts, so its state is ``dose``
(of the next cohort), ``n`` and ``y`` (that dose's counts, as the contract asks), ``final`` (the dose
it would select if the trial ended now: a function of the counts, kept so that the end of a trial
costs no new posterior) and ``n0, y0, n1, y1, ...``.  Histories with equal counts merge.
:class:`CountsDesign` holds that bookkeeping; a subclass has a ``cohort_size`` field and writes
:meth:`decide`.
"""

from __future__ import annotations

import numpy as np

from doseesc.designs.base import RUNNING, State
from doseesc.designs.common import CommonDesign


def count_fields(n_doses: int) -> tuple[str, ...]:
    """The state fields of every dose's patients and DLTs: ``n0, y0, n1, y1, ...``."""
    return tuple(f"{v}{j}" for j in range(n_doses) for v in "ny")


def stack_counts(state: State, n_doses: int) -> tuple[np.ndarray, np.ndarray]:
    """``(trials, n_doses)`` cumulative patients and DLTs at every dose, from the state fields."""
    n = np.stack([state[f"n{j}"] for j in range(n_doses)], axis=1)
    y = np.stack([state[f"y{j}"] for j in range(n_doses)], axis=1)
    return n, y


def unstack_counts(n: np.ndarray, y: np.ndarray) -> State:
    """The state fields of ``(trials, n_doses)`` patients and DLTs."""
    return {f"n{j}": n[:, j] for j in range(n.shape[1])} | {f"y{j}": y[:, j] for j in range(y.shape[1])}


class CountsDesign(CommonDesign):
    """The bookkeeping of a rule on per-dose counts (module docstring)."""

    cohort_size: int
    outcomes = ("dlt",)
    mc_max_states = 50_000
    """Every state costs a posterior: beyond this many, the Monte Carlo engine tabulates only the
    states its trials reach (:mod:`doseesc.engines.reached`) instead of all of them."""

    @property
    def max_cohort(self) -> int:
        return self.cohort_size

    @property
    def fields(self) -> tuple[str, ...]:
        return ("dose", "n", "y", "final", *count_fields(self.n_doses))

    def per_dose(self, state: State) -> tuple[np.ndarray, np.ndarray]:
        """``(trials, n_doses)`` cumulative patients and DLTs at every dose."""
        return stack_counts(state, self.n_doses)

    def start(self) -> State:
        state = {f: np.zeros(1, dtype=np.int64) for f in self.fields}
        return state | {
            "dose": np.full(1, self.start_dose),
            "final": np.full(1, -1),
            "selected": np.full(1, RUNNING),
        }

    def cohort(self, state: State) -> tuple[np.ndarray, np.ndarray]:
        """Dose index and size of the next cohort of each trial."""
        return state["dose"], np.full_like(state["dose"], self.cohort_size)

    def decide(
        self, n: np.ndarray, y: np.ndarray, given: np.ndarray, dlt: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """From the counts after a cohort at dose ``given`` showed ``dlt`` DLTs: the next dose, the
        selection if the trial ended now, and ``selected`` (:data:`RUNNING`, or the trial's end)."""
        raise NotImplementedError

    def update(self, state: State, outcome: dict[str, np.ndarray]) -> State:
        """The state after the next cohort showed ``outcome["dlt"]`` DLTs."""
        d = state["dose"]
        rows = np.arange(d.shape[0])
        n, y = self.per_dose(state)
        n[rows, d] += self.cohort_size
        y[rows, d] += outcome["dlt"]
        dose, final, selected = self.decide(n, y, d, outcome["dlt"])
        after = {"dose": dose, "n": n[rows, dose], "y": y[rows, dose], "final": final, "selected": selected}
        return after | unstack_counts(n, y)

    def select(self, state: State) -> np.ndarray:
        """The dose named when ``max_n`` completes the trial: the selection on all the data."""
        return state["final"]
