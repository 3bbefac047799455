"""What the engines ask of a toxicity model."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from doseesc.streams import TrialStreams


class ToxicityModel(Protocol):
    """Probability of a dose-limiting toxicity (DLT), and of named kinds of DLT, for the patients of
    a simulated trial.

    A trial is of one *kind*, drawn at its start (e.g. a draw from a posterior of the model's
    parameters; a model without parameters drawn per trial has one kind).  Given its kind, the
    trial's patients are independent draws from the population, so each has the same probabilities,
    averaged over the population's covariates: :attr:`probability_table`.  This is exact, not an
    approximation: a cohort of patients with drawn covariates has a Poisson-binomial DLT count, and
    averaged over the covariates, independent and alike between patients, that is the binomial with
    the averaged probability.

    Rows of the table: ``P(DLT)``, then ``P(event e)`` for each of :attr:`events` (a kind of DLT, so
    at most ``P(DLT)``), then, for models with ``grade2``, ``P(grade >= 2)`` (at least ``P(DLT)``).
    A patient with uniform ``u`` has a DLT when ``u < P(DLT)``, event ``e`` when ``u < P(event e)``
    and a grade-2 toxicity (and no worse) when ``P(DLT) <= u < P(grade >= 2)``.
    """

    n_doses: int
    events: tuple[str, ...]
    """Names of the kinds of DLT tallied separately (at most one)."""

    @property
    def probability_table(self) -> np.ndarray:
        """``(n_kinds, rows, n_doses)``: one patient's probabilities per trial kind and dose (see above)."""
        ...

    def mean_probabilities(self) -> np.ndarray:
        """(n_doses,) population-averaged DLT probability per dose, averaged over the trial kinds."""
        ...

    def draw_trials(self, streams: TrialStreams) -> np.ndarray:
        """(n_trials,) kind of each trial (an index into :attr:`probability_table`); a model with one
        kind uses no random numbers."""
        ...
