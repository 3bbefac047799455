"""What every design accepts, validated once: the start dose and the limits on sample size.

:class:`CommonDesign` is the base of the package's designs and the easiest start for a new one: a
frozen dataclass whose subclasses add their own parameters (with defaults) and their rule.  The
limits ``max_n`` and ``stop_n_at_dose`` are applied by the core (:func:`doseesc.designs.base.with_limits`),
so a rule never has to count its patients; ``start_dose`` is read by the rule's ``start``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from doseesc.designs.base import MAX_COHORT, DecisionTable, State

MAX_DOSES = 60


def check_int(name: str, value: object, low: int, high: int | None = None, why: str = "") -> None:
    """Raise ``ValueError`` naming ``name`` and its allowed range unless ``low <= value <= high``."""
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
    ok = ok and value >= low and (high is None or value <= high)
    if not ok:
        allowed = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
        raise ValueError(f"{name} must be {allowed}{why}, got {value!r}")


def check_number(
    name: str, value: object, low: float, high: float, why: str = "", *, strict: bool = False
) -> None:
    """Raise ``ValueError`` naming ``name`` and its allowed range unless ``low <= value <= high``
    (``low < value < high`` when ``strict``)."""
    ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool)
    ok = ok and ((low < value < high) if strict else (low <= value <= high))
    if not ok:
        interval = f"strictly between {low:g} and {high:g}" if strict else f"from {low:g} to {high:g}"
        raise ValueError(f"{name} must be a number {interval}{why}, got {value!r}")


def check_cohort_size(name: str, value: object) -> None:
    """A cohort size: 1 to :data:`~doseesc.designs.base.MAX_COHORT` patients."""
    check_int(name, value, 1, MAX_COHORT)


@dataclass(frozen=True)
class CommonDesign:
    """Parameters every design has (keyword-only, so that a subclass's own come after ``n_doses``):

    ``n_doses``
        Dose levels (1 to 60), indices 0 .. n_doses-1 in increasing dose.
    ``start_dose``
        Index of the first cohort's dose (default 0, the lowest).
    ``max_n``
        Maximum patients per trial: the trial ends before a cohort that would exceed it, and the
        design names the dose it would select then (:meth:`select`).  None: no limit beyond the
        design's own rule.
    ``stop_n_at_dose``
        End the trial before a cohort whose dose already holds this many patients, selecting that
        dose.  None: never.
    """

    n_doses: int
    start_dose: int = field(default=0, kw_only=True)
    max_n: int | None = field(default=None, kw_only=True)
    stop_n_at_dose: int | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        check_int("n_doses", self.n_doses, 1, MAX_DOSES)
        check_int("start_dose", self.start_dose, 0, self.n_doses - 1, " (a dose index, 0 = lowest)")
        if self.max_n is not None:
            check_int("max_n", self.max_n, self.max_cohort, self.max_n_limit, " (at least one full cohort)")
        if self.stop_n_at_dose is not None:
            check_int("stop_n_at_dose", self.stop_n_at_dose, 1, 10_000)

    max_n_limit = 10_000
    """The largest ``max_n`` the rule accepts (designs that tabulate their decisions over n lower it)."""

    @property
    def max_cohort(self) -> int:
        """The largest cohort the rule asks for (subclasses with other cohort sizes override)."""
        return 3

    def common_options(self) -> dict[str, Any]:
        """The common parameters that differ from their defaults (for a result's ``options``)."""
        return {
            key: getattr(self, key)
            for key, default in (("start_dose", 0), ("max_n", None), ("stop_n_at_dose", None))
            if getattr(self, key) != default
        }

    def select(self, state: State) -> np.ndarray:
        """The dose named if the trial ends now (``max_n`` reached): by default the dose below the
        one the next cohort would receive, the highest dose not under study (-1: none)."""
        dose, _ = self.cohort(state)
        return dose - 1

    def summaries(self, table: DecisionTable, weights: np.ndarray, n_trials: int | None) -> dict[str, Any]:
        """Design-specific figures for results (none by default); see :mod:`doseesc.designs.base`."""
        return {}
