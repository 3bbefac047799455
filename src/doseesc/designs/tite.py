"""The time-to-event CRM (TITE-CRM; Cheung & Chappell, Biometrics 2000;56:1177-82), as the R package
dfcrm's ``titecrm`` weighs patients, with the CRM's restrictions.

Patients are enrolled one at a time as they arrive, without waiting for the previous patients'
DLT windows to end.  At each enrolment the CRM's working model (:class:`~doseesc.designs.crm.CRM`)
is fitted to every patient so far with the weighted likelihood

    prod_(DLT seen) psi(d_i, beta) * prod_(no DLT yet) (1 - w_i psi(d_i, beta)),

``w_i = min(follow-up_i / window, 1)`` (dfcrm's ``scheme = "linear"``; a patient with a DLT counts
fully).  The next dose is the CRM's recommendation on those estimates, with the CRM's restrictions
when ``restrict`` is on: at most one level above the previous patient's dose, and no escalation
when the previous patient's DLT has already been seen.  dfcrm's ``titesim`` applies only the first
of the two; the second is kept here so that with every window complete the TITE-CRM is exactly the
CRM with cohorts of one (a named departure).  The final selection uses every patient's complete
follow-up, as the CRM's does.

``stop_n_at_dose`` (common to every design) is applied as for every design
(:func:`doseesc.designs.base.with_limits`), patient by patient: when the dose the next patient
would get already holds that many patients (not known to be non-evaluable), accrual stops and that
dose is selected; when ``max_n`` completes the trial, it is checked first on the complete data (the
next patient's dose is selected if it holds that many), else the CRM's final selection applies.
With every window complete this is the CRM's ``stop_n_at_dose`` with cohorts of one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from doseesc.designs.crm import CRM, closest


@dataclass(frozen=True)
class TITECRM(CRM):
    """The TITE-CRM with the CRM's parameters (cohorts of one: patients are enrolled one by one)."""

    calendar_time_only = True
    """Its decisions read each patient's follow-up: only :mod:`doseesc.engines.tite` runs it."""

    @property
    def name(self) -> str:
        return "TITE-CRM"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.cohort_size != 1:
            raise ValueError(
                "cohort_size must be 1 for the TITE-CRM (patients are enrolled one by one), "
                f"got {self.cohort_size}"
            )
        unsupported = {
            "safety_stop": None,
            "no_skip": "given",
            "coherence": "cohort",
            "stop_n_any_dose": None,
            "stop_n_lowest_dose": None,
            "final": "model",
        }
        for key, default in unsupported.items():
            if getattr(self, key, default) != default:
                raise ValueError(
                    f"{key} is a CRM option the TITE-CRM does not take (its patients are weighed one by one "
                    f"in calendar time), got {getattr(self, key)!r}"
                )

    def weighted_estimates(self, levels: np.ndarray, tox: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``(K,)`` estimates of P(DLT) (plug-in or posterior mean, as ``estimate`` says) from patients
        at dose indices ``levels`` with DLT indicators ``tox`` and follow-up weights ``weights``
        (ignored where ``tox`` is 1)."""
        m = self.working
        beta, log_w, log_p, _ = m.grid
        levels = np.asarray(levels, dtype=np.intp)
        tox = np.asarray(tox, dtype=bool)
        w = np.where(tox, 1.0, np.clip(np.asarray(weights, dtype=float), 0.0, 1.0))
        ll = log_w + log_p[:, levels[tox]].sum(axis=1)
        p = np.exp(log_p[:, levels[~tox]])
        ll = ll + np.log1p(-w[~tox] * p).sum(axis=1)
        post = np.exp(ll - ll.max())
        post /= post.sum()
        if self.estimate == "posterior":
            return post @ m.psi(beta)
        return m.psi(np.array(post @ beta))

    def next_dose(self, levels: np.ndarray, tox: np.ndarray, weights: np.ndarray) -> int:
        """The dose of the next patient given the patients so far (in enrolment order), their DLTs
        seen so far and their follow-up weights; ``levels`` must not be empty."""
        p = self.weighted_estimates(levels, tox, weights)
        dose = int(closest(p[None, :], self.target)[0])
        if self.restrict:
            last = int(np.asarray(levels)[-1])
            dose = min(dose, last if bool(np.asarray(tox)[-1]) else last + 1)
        return dose

    def stops_at(self, levels: np.ndarray, dose: int) -> bool:
        """Whether ``stop_n_at_dose`` ends the trial before a patient at ``dose``, given the doses of
        the patients so far (the trial then selects ``dose``)."""
        if self.stop_n_at_dose is None:
            return False
        return int(np.count_nonzero(np.asarray(levels) == dose)) >= self.stop_n_at_dose

    def final_dose(self, levels: np.ndarray, tox: np.ndarray) -> int:
        """The MTD on complete follow-up when ``max_n`` completes the trial: the next patient's dose
        if ``stop_n_at_dose`` stops there (checked first, as for every design), else the CRM's
        unrestricted final selection."""
        levels = np.asarray(levels, dtype=np.intp)
        if self.stop_n_at_dose is not None:
            dose = self.next_dose(levels, tox, np.ones(levels.size))
            if self.stops_at(levels, dose):
                return dose
        n = np.bincount(levels, minlength=self.n_doses)[None, :]
        y = np.bincount(levels, weights=np.asarray(tox, dtype=float), minlength=self.n_doses)[None, :]
        return int(self.assess(n, y.astype(np.int64))["final"][0])
