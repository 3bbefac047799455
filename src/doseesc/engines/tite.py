"""The TITE-CRM in calendar time: a discrete-event simulation (simpy) of one-by-one enrolment.

Each simulated trial follows :class:`~doseesc.designs.tite.TITECRM` with the calendar-time settings
of a :class:`~doseesc.conduct.Conduct` (units: days):

* patients arrive as a Poisson process (``accrual_per_month`` summed over sites; ``"regular"``
  accrual: one every 1 / rate months) and are dosed on arrival at the dose the TITE-CRM gives with
  the data seen at that moment (the design never closes slots, so screening, waiting, staggering,
  halts and a horizon do not apply, and are refused if set: :data:`IGNORED_CONDUCT`);
* a patient's DLT, if any, comes at a uniform time in the ``window_days`` window (``dlt_onset =
  "uniform"``, dfcrm's ``titesim``'s ``surv = "uniform"``);
* competing risks (``disease``): a patient who dies or has a transplant in the window before any
  DLT is not evaluable; from then on they leave the data and another patient is enrolled in their
  place, as the events engine replaces them; ``max_n`` counts evaluable patients;
* the trial ends when ``max_n`` evaluable patients have completed their windows (dfcrm's duration:
  last arrival plus the window, when nobody is replaced); the MTD is the CRM's final selection on
  the complete data;
* with ``stop_n_at_dose``, accrual stops at the arrival of a patient whose dose already holds that
  many patients not known to be non-evaluable (that patient is not enrolled; the dose is selected),
  and the trial ends when the patients enrolled have completed their windows; nobody who exits
  after that is replaced (:class:`~doseesc.designs.tite.TITECRM`'s docstring).

Randomness: trial ``t`` of a run draws only from child ``t`` of ``SeedSequence(seed)`` (arrivals,
DLTs and exits in the order they are needed), so results do not depend on how trials are split.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import simpy

from doseesc.conduct import DAYS_PER_MONTH, RISK_DAYS, Conduct
from doseesc.designs.tite import TITECRM
from doseesc.engines.parallel import recorded_seed
from doseesc.metrics import PatientSplit, Target
from doseesc.results import OperatingCharacteristics

IGNORED_CONDUCT = (
    "screening_days",
    "screen_failure",
    "max_wait_days",
    "infusions",
    "stagger_days",
    "cohort_decision",
    "halt_probability",
    "halt_days",
    "max_days",
)
"""Settings of the events engine that this engine does not simulate (module docstring), refused
unless left at their neutral defaults."""


class _Trial:
    """One trial's patients (arrays grown as patients enrol) and its simpy process."""

    def __init__(
        self, design: TITECRM, p_tox: np.ndarray, conduct: Conduct, gen: np.random.Generator
    ) -> None:
        self.design, self.p, self.conduct, self.gen = design, p_tox, conduct, gen
        self.env = simpy.Environment()
        self.dose: list[int] = []
        self.start: list[float] = []
        self.dlt_at: list[float] = []  # time of the DLT after the first dose (inf: none)
        self.exit_at: list[float] = []  # time of death or transplant after the first dose (inf: none)
        self.stopped_at: int | None = None  # the dose stop_n_at_dose selected when it stopped accrual
        self.accrual_end = math.inf  # when stop_n_at_dose stopped accrual
        self.env.process(self.run())

    def _evaluable(self, now: float) -> np.ndarray:
        """Patients not (yet) known to be non-evaluable at ``now``."""
        start, dlt, leave = (np.array(v) for v in (self.start, self.dlt_at, self.exit_at))
        lost = (leave < np.minimum(dlt, self.conduct.window_days)) & (start + leave <= now)
        return ~lost

    def _choose(self, now: float) -> tuple[int, np.ndarray]:
        """The next patient's dose at ``now`` and the doses of the patients it was chosen from."""
        if not self.dose:
            return self.design.start_dose, np.zeros(0, dtype=np.intp)
        keep = self._evaluable(now)
        levels = np.array(self.dose)[keep]
        if levels.size == 0:
            return self.design.start_dose, levels
        elapsed = now - np.array(self.start)[keep]
        tox = np.array(self.dlt_at)[keep] <= elapsed
        weights = np.minimum(elapsed / self.conduct.window_days, 1.0)
        return self.design.next_dose(levels, tox, weights), levels

    def _exit_time(self) -> float:
        disease = self.conduct.disease
        if disease is None:
            return math.inf
        h1, h2 = disease.hazards(bool(self.gen.random() < disease.aclf_fraction))
        e = self.gen.exponential()  # unit exponential: invert the piecewise-constant cumulative hazard
        t1 = RISK_DAYS[0]
        if h1 > 0 and e <= h1 * t1:
            return e / h1
        rest = e - h1 * t1
        return t1 + rest / h2 if h2 > 0 else math.inf

    def run(self):
        c = self.conduct
        rate = c.accrual_per_day
        window = c.window_days
        n_max = self.design.max_n
        while True:
            now = self.env.now
            evaluable = self._evaluable(now) if self.dose else np.zeros(0, dtype=bool)
            if evaluable.sum() < n_max:
                gap = 1 / rate if c.accrual_process == "regular" else self.gen.exponential(1 / rate)
                yield self.env.timeout(gap)
                dose, levels = self._choose(self.env.now)
                if self.design.stops_at(levels, dose):
                    self.stopped_at, self.accrual_end = dose, self.env.now
                    return
                self.dose.append(dose)
                self.start.append(self.env.now)
                has_dlt = self.gen.random() < self.p[dose]
                self.dlt_at.append(self.gen.uniform(0.0, window) if has_dlt else math.inf)
                self.exit_at.append(self._exit_time())
                continue
            # Enough patients: wait for the next time one of them may turn out non-evaluable.
            start, dlt, leave = (np.array(v) for v in (self.start, self.dlt_at, self.exit_at))
            pending_loss = (leave < np.minimum(dlt, window)) & (start + leave > now)
            if not pending_loss.any():
                return
            yield self.env.timeout(float((start + leave)[pending_loss].min()) - now)

    def outcome(self) -> tuple[np.ndarray, np.ndarray, int, float, int]:
        """Doses and DLTs of the evaluable patients, the dose selected, the trial's end (days: the
        last patient's window or exit) and the patients replaced (non-evaluable before accrual ended)."""
        self.env.run()
        start, dlt, leave = (np.array(v) for v in (self.start, self.dlt_at, self.exit_at))
        window = self.conduct.window_days
        lost = leave < np.minimum(dlt, window)
        levels, tox = np.array(self.dose)[~lost], dlt[~lost] < math.inf
        selected = self.design.final_dose(levels, tox) if self.stopped_at is None else self.stopped_at
        end = float(np.max(start + np.where(lost, leave, window)))
        return levels, tox, selected, end, int((lost & (start + leave <= self.accrual_end)).sum())


def simulate_tite(
    design: TITECRM,
    p_tox: np.ndarray | list[float],
    conduct: Conduct,
    n_trials: int,
    seed: int | None = None,
    *,
    target: Target | float | None = None,
) -> OperatingCharacteristics:
    """Operating characteristics of the TITE-CRM in calendar time from ``n_trials`` simulated
    trials with DLT probabilities ``p_tox`` per dose (see the module docstring).  ``extras`` holds
    the trial duration (mean, median and 90th percentile, days and months) and the mean number of
    patients replaced after a competing exit."""
    p = np.asarray(p_tox, dtype=float)
    if p.shape != (design.n_doses,) or not np.all((p >= 0) & (p <= 1)):
        raise ValueError(f"p_tox must hold {design.n_doses} probabilities, one per dose, got {p_tox!r}")
    if conduct.dlt_onset != "uniform":
        raise ValueError(
            f"dlt_onset must be uniform for the TITE-CRM (its weights assume it), got {conduct.dlt_onset!r}"
        )
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}")
    neutral = Conduct(conduct.accrual_per_month)
    for name in IGNORED_CONDUCT:
        if getattr(conduct, name) != getattr(neutral, name):
            raise ValueError(
                f"Conduct.{name} = {getattr(conduct, name)!r} has no effect on the TITE-CRM, whose patients "
                f"are dosed on arrival; allowed: leave it at {getattr(neutral, name)!r}"
            )
    target = Target.of(target, design)
    root = np.random.SeedSequence(seed)
    k, n_max = design.n_doses, design.max_n
    selected = np.zeros(k + 1, dtype=np.int64)
    sums = np.zeros((4, k))
    total_n = np.zeros(n_max + 1, dtype=np.int64)
    total_dlt = np.zeros(n_max + 1, dtype=np.int64)
    durations = np.empty(n_trials)
    replaced = 0
    region = None if target is None else target.regions(p)
    split, products = np.zeros(3), np.zeros((3, 3))
    for t, child in enumerate(root.spawn(n_trials)):
        trial = _Trial(design, p, conduct, np.random.default_rng(child))
        levels, tox, mtd, end, lost = trial.outcome()
        selected[mtd + 1] += 1
        n = np.bincount(levels, minlength=k)
        y = np.bincount(levels, weights=tox, minlength=k)
        sums += np.stack([n, n * n, y, y * y])
        total_n[n.sum()] += 1
        total_dlt[int(y.sum())] += 1
        durations[t] = end
        replaced += lost
        if region is not None:
            x = np.array([n[region == 1].sum(), n[region == 2].sum(), n.sum()], dtype=float)
            split += x
            products += np.outer(x, x)
    m = np.arange(n_max + 1)
    result = OperatingCharacteristics.from_sums(
        design=design,
        table=None,
        weights=None,
        selected=selected,
        total_n=total_n,
        total_dlt=float(total_dlt @ m),
        total_dlt_sq=float(total_dlt @ m**2),
        total_dlt_counts=total_dlt,
        n_trials=n_trials,
        p_tox=p,
        target=target,
        split=None if target is None else PatientSplit(split, products),
        sums=dict(zip(("n", "n2", "y", "y2"), sums, strict=True)),
        engine="tite",
        seed=recorded_seed(root),
    )
    days = {
        "mean": float(durations.mean()),
        "median": float(np.median(durations)),
        "p90": float(np.quantile(durations, 0.9)),
    }
    extras = {
        "duration_days": days,
        "duration_months": {key: v / DAYS_PER_MONTH for key, v in days.items()},
        "se_duration_days_mean": float(durations.std(ddof=1) / math.sqrt(n_trials)) if n_trials > 1 else None,
        "mean_replaced": replaced / n_trials,
    }
    return replace(result, extras=extras)
