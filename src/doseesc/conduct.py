"""How a trial is conducted in calendar time: accrual, screening, dosing, observation, disease course.

These options feed the discrete-event engine (:mod:`doseesc.engines.events`); they do not change
the design's rule.  Times are in **days**, accrual rates in **patients per month**, with a month of
:data:`DAYS_PER_MONTH` days.  Every default that is a number from a source says which; the others
are neutral (no screening, no waiting limit, no stagger, no halt) and a scenario sets them.

Sources (facts in ``docs/sources.md``):

* HALPC phase II (Nevens et al., JHEP Reports 2021;3:100291): screening up to 7 days; 1 or 2
  infusions 7 days apart; safety (DLT) period 28 days; coagulation tests up to 72 h after each
  infusion; at Day 1, 15 of 24 patients had ACLF (10 grade 1, 5 grade 2) and 9 acute decompensation
  (AD); the sentinel's two suspected unexpected serious adverse reactions (SUSARs) halted the study.
* NCT05727722 (ClinicalTrials.gov registry record NCT05727722): one administration; DLT observation
  from baseline to Day 60; a subject who does not complete the DLT period for a reason other than a
  DLT is replaced.
* CANONIC (Moreau et al., Gastroenterology 2013;144:1426-37, ref. 1 of the HALPC paper):
  transplant-free mortality without cell therapy at Day 28 / Month 3: ACLF 32.8% / 51.2%; AD without
  ACLF 1.9% / 9.8%.  The disease course's exits (deaths *or* transplants) follow these figures.
* Mahmud et al., Hepatology 2019;69:2150-63 (ref. 8 of the HALPC paper; not CANONIC): *overall*
  mortality of ACLF with bilirubin >= 5 mg/dl, 63.7% / 76.3%.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

DAYS_PER_MONTH = 365.25 / 12
"""Days in a month (a Julian year over 12): converts accrual rates and "Month 3"."""

RISK_DAYS = (28.0, 3 * DAYS_PER_MONTH)
"""Days at which the mortality figures below are reported: Day 28 and Month 3."""

CANONIC_ACLF = (0.328, 0.512)
"""Transplant-free mortality by Day 28 and Month 3 with ACLF (CANONIC, facts in docs/sources.md)."""
CANONIC_AD = (0.019, 0.098)
"""The same for acute decompensation without ACLF (CANONIC, facts in docs/sources.md)."""
ACLF_HIGH_BILIRUBIN_OVERALL_MORTALITY = (0.637, 0.763)
"""Overall mortality by Day 28 and Month 3 with ACLF and bilirubin >= 5 mg/dl: Mahmud et al.,
Hepatology 2019;69:2150-63, the HALPC paper's reference 8, as that paper quotes it (facts in
docs/sources.md).  Not a CANONIC figure, and not transplant-free mortality: it counts every death.
Every HALPC patient had a bilirubin above 5 mg/dl at screening (HALPC paper, Discussion), so as a
:class:`DiseaseCourse` ``aclf_risk`` it is a pessimistic bound on the risk of leaving the window
(death or transplant), not an estimate of it."""

HALPC_ACLF_FRACTION = 15 / 24
"""Patients with ACLF at Day 1 in the HALPC phase II study: 15 of 24 (HALPC paper, Table 1; facts in
docs/sources.md)."""

MAX_DAYS = 3650.0
"""Longest window, screening, halt or interval in days (ten years): longer is no phase I trial, and
patients keep arriving meanwhile (docs/limits.md)."""
HORIZON_DAYS = 36525.0
"""Longest trial horizon (``Conduct.max_days``), in days: a hundred Julian years, and its default.
No trial runs that long; the bound keeps every simulated trial finite in calendar time whatever the
accrual rate (docs/limits.md)."""
ACCRUAL_RANGE = (1e-3, 1e4)
"""Accrual rate per site and summed over sites, patients per month: slower than one patient in 83
years is no trial; faster only queues patients (docs/limits.md)."""
MAX_SCREEN_FAILURE = 0.99
"""Highest screen-failure probability: 1 / (1 - p), the screenings per eligible patient, at most 100."""
MAX_INFUSIONS = 1000
"""Administrations per patient: each is an event of the calendar-time simulation."""
MAX_ARRIVALS_PER_PERIOD = 10_000.0
"""Bound on the expected screenings while one patient is screened, observed and any halt is served
(accrual per day times those days): each is simulated, so this bounds the work per cohort."""

ACCRUAL_PROCESSES = ("poisson", "regular")
SCREENING_DISTRIBUTIONS = ("uniform", "fixed")
DLT_ONSETS = ("uniform", "after_infusion", "end")
COHORT_DECISIONS = ("earliest", "filled", "complete")


def _check(
    owner: str, name: str, value: float, low: float, high: float = math.inf, *, open_low: bool = False
) -> None:
    """Raise ``ValueError`` naming ``owner.name`` unless ``value`` is in the range: ``[low, high]``,
    or ``[low, inf)`` (finite) when ``high`` is infinite; ``open_low`` excludes ``low``.  NaN fails."""
    above = low < value if open_low else low <= value
    if not (above and (value <= high if math.isfinite(high) else value < high)):
        left = "(" if open_low else "["
        right = ")" if math.isinf(high) else "]"
        raise ValueError(f"{owner}.{name} = {value!r}: allowed range is {left}{low:g}, {high:g}{right}")


def _check_choice(owner: str, name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{owner}.{name} = {value!r}: allowed values are {', '.join(allowed)}")


@dataclass(frozen=True)
class DiseaseCourse:
    """Death or liver transplant during the DLT window: the competing risks of liver failure.

    Each dosed patient has ACLF with probability ``aclf_fraction`` (else AD without ACLF); the time
    from the first dose to death or transplant has a **piecewise-constant hazard**, one rate up to
    Day 28 and another after it, fitted exactly to the two published cumulative risks of the
    patient's group at :data:`RISK_DAYS` (Day 28, Month 3): with ``F1``, ``F2`` those risks,

        h1 = -ln(1 - F1) / 28,    h2 = -ln((1 - F2) / (1 - F1)) / (t2 - 28),    t2 = Month 3 in days,

    and ``h2`` continues after Month 3.  The defaults are CANONIC's transplant-free mortality
    (:data:`CANONIC_ACLF`, :data:`CANONIC_AD`), and the time so drawn is that of an *exit*: a death
    or a transplant, either of which ends the window.  ``transplant_share`` (0 to 1) labels that
    share of the exits as transplants without changing their timing (HALPC phase II: 4 deaths and 3
    transplants before Day 28, HALPC paper, i.e. 3/7).  So it is deaths *or transplants* that follow
    CANONIC's transplant-free mortality; simulated deaths alone are ``1 - transplant_share`` of it
    (57% with the scenarios' 0.43).  The clock starts at the first dose (Day 1 of the HALPC
    schedule): losses before dosing are screen failures or patients lost while waiting.
    """

    aclf_fraction: float = HALPC_ACLF_FRACTION
    aclf_risk: tuple[float, float] = CANONIC_ACLF
    ad_risk: tuple[float, float] = CANONIC_AD
    transplant_share: float = 0.0

    def __post_init__(self) -> None:
        _check("DiseaseCourse", "aclf_fraction", self.aclf_fraction, 0.0, 1.0)
        _check("DiseaseCourse", "transplant_share", self.transplant_share, 0.0, 1.0)
        for name in ("aclf_risk", "ad_risk"):
            value = tuple(float(v) for v in getattr(self, name))
            if len(value) != 2 or not 0.0 <= value[0] <= value[1] < 1.0:
                raise ValueError(
                    f"DiseaseCourse.{name} = {getattr(self, name)!r}: allowed are two cumulative risks "
                    "(Day 28, Month 3) with 0 <= day-28 risk <= month-3 risk < 1"
                )
            object.__setattr__(self, name, value)

    def hazards(self, aclf: bool) -> tuple[float, float]:
        """Hazards (per day) before and after Day 28 for a patient with or without ACLF."""
        f1, f2 = self.aclf_risk if aclf else self.ad_risk
        t1, t2 = RISK_DAYS
        return -math.log1p(-f1) / t1, math.log((1.0 - f1) / (1.0 - f2)) / (t2 - t1)

    def risk(self, days: float, aclf: bool) -> float:
        """Probability of death or transplant within ``days`` of the first dose."""
        h1, h2 = self.hazards(aclf)
        t1 = RISK_DAYS[0]
        cumulative = h1 * min(days, t1) + h2 * max(days - t1, 0.0)
        return -math.expm1(-cumulative)

    def window_risk(self, days: float) -> float:
        """Population-averaged probability of leaving a window of ``days`` by death or transplant."""
        return self.aclf_fraction * self.risk(days, True) + (1 - self.aclf_fraction) * self.risk(days, False)


@dataclass(frozen=True)
class Conduct:
    """The calendar-time conduct of one trial (units: days; accrual in patients per month).

    Accrual and screening
        ``accrual_per_month``: one rate per recruiting site (a number for one site), each > 0.
        ``accrual_process``: ``"poisson"`` (independent sites: the merged arrivals are a Poisson
        process with the summed rate) or ``"regular"`` (one patient exactly every 1 / summed rate
        months, first at that interval: a deterministic plan, for closed-form checks).
        ``screening_days``: how long screening takes; ``screening`` is ``"uniform"`` (uniform on
        [0, screening_days]: the protocols give only an upper bound, e.g. HALPC "up to 7 days") or
        ``"fixed"`` (exactly ``screening_days``).  ``screen_failure``: probability a screened patient
        is not eligible, in [0, 0.99].  The limits that keep every run finite (:data:`MAX_DAYS`,
        :data:`ACCRUAL_RANGE` ...) are listed in docs/limits.md.
    Waiting
        A patient who passed screening waits for an open slot at the current dose, first come first
        served, for at most ``max_wait_days`` (``inf``: no limit), then is lost.
    Dosing
        ``infusions`` administrations ``interval_days`` apart (HALPC: 2, 7 days apart, hence the
        default 7; NCT05727722: 1); the DLT window starts at the first.  ``infusions`` is one count
        for every dose level, or one per level (the amended HALPC protocol's levels differ in their
        number of infusions: :meth:`level_infusions`).  A patient's DLT probability is the toxicity
        model's for the whole regimen; a DLT or an exit stops further infusions.
        ``stagger_days``: the first patient at a dose level not treated before is observed that long
        before the other slots of the cohort open (a sentinel; if the sentinel leaves the window
        early without a DLT, the replacement is the new sentinel).
    DLT window
        ``window_days`` (default 28, HALPC's; NCT05727722 60, which the nct05727722 design brings
        with it unless the scenario sets a window: :func:`doseesc.build.make_conduct`).  Time of a
        DLT from the first dose
        (``dlt_onset``):
        ``"uniform"`` on [0, window_days] (no timing information); ``"after_infusion"``: uniform
        within ``onset_days`` after one of the infusions (HALPC's bleeding mechanism acts at
        infusion; coagulation was monitored up to 72 h after each, so 3 days by default), the one
        the model's per-infusion risks make it follow (:mod:`doseesc.engines.events_infusions`),
        each equally likely for a model without them; ``"end"``: only known at the end-of-window
        visit.
    Decisions (``cohort_decision``)
        When the design's rule is consulted about the open cohort: ``"earliest"`` as soon as the
        outcomes seen (DLTs, and grade-2 toxicities for designs that count them, known at the end of
        a window) settle it whatever its other patients show, those still in their window and those
        not yet dosed, whose slots are then closed (nobody is dosed at a dose already decided);
        ``"filled"`` every slot is dosed first, then as soon as the DLTs seen settle the cohort
        whatever the patients still in their window show (the cohort as the exact engine counts it);
        ``"complete"`` every slot dosed and every window over.
    Competing risks
        ``disease``: a :class:`DiseaseCourse`, or None for none.  A patient who dies or has a
        transplant in the window before any DLT is not evaluable and is replaced (NCT05727722).
    Safety halt
        Each DLT is, with probability ``halt_probability``, a suspected unexpected serious adverse
        reaction that stops new patients from starting treatment for ``halt_days`` of review
        (patients already dosed continue; ``halt_days`` 0: no halt); HALPC's sentinel SUSARs halted
        that study.
    Horizon
        ``max_days``: the simulation clock stops a trial that has not reached the design's final
        decision by this many days after accrual opened (day 0, when the first patient may arrive);
        such a trial *ran out of time* and selects no dose (it is counted under "no dose selected"
        and, separately, as out of time: :class:`doseesc.engines.events.EventsResult`).  In [1,
        :data:`HORIZON_DAYS`], default :data:`HORIZON_DAYS`.
    """

    accrual_per_month: tuple[float, ...] | float
    accrual_process: str = "poisson"
    screening_days: float = 0.0
    screening: str = "uniform"
    screen_failure: float = 0.0
    max_wait_days: float = math.inf
    infusions: int | tuple[int, ...] = 1
    interval_days: float = 7.0
    stagger_days: float = 0.0
    window_days: float = 28.0
    dlt_onset: str = "uniform"
    onset_days: float = 3.0
    cohort_decision: str = "earliest"
    disease: DiseaseCourse | None = None
    halt_probability: float = 0.0
    halt_days: float = 0.0
    max_days: float = HORIZON_DAYS

    def __post_init__(self) -> None:
        rates = self.accrual_per_month
        rates = (rates,) if isinstance(rates, int | float) else tuple(rates)
        if not rates:
            raise ValueError("Conduct.accrual_per_month: allowed is one rate > 0 per site, at least one site")
        for i, r in enumerate(rates):
            _check("Conduct", f"accrual_per_month[{i}]", float(r), *ACCRUAL_RANGE)
        _check("Conduct", "accrual_per_month (summed over sites)", float(sum(rates)), *ACCRUAL_RANGE)
        object.__setattr__(self, "accrual_per_month", tuple(float(r) for r in rates))
        _check_choice("Conduct", "accrual_process", self.accrual_process, ACCRUAL_PROCESSES)
        _check_choice("Conduct", "screening", self.screening, SCREENING_DISTRIBUTIONS)
        _check_choice("Conduct", "dlt_onset", self.dlt_onset, DLT_ONSETS)
        _check_choice("Conduct", "cohort_decision", self.cohort_decision, COHORT_DECISIONS)
        for name in ("screening_days", "interval_days", "window_days", "halt_days"):
            _check("Conduct", name, getattr(self, name), 0.0, MAX_DAYS)
        if not self.max_wait_days >= 0.0:
            raise ValueError(f"Conduct.max_wait_days = {self.max_wait_days!r}: allowed range is [0, inf]")
        _check("Conduct", "screen_failure", self.screen_failure, 0.0, MAX_SCREEN_FAILURE)
        _check("Conduct", "halt_probability", self.halt_probability, 0.0, 1.0)
        _check("Conduct", "max_days", self.max_days, 1.0, HORIZON_DAYS)
        per_level = isinstance(self.infusions, list | tuple)
        counts = tuple(self.infusions) if per_level else (self.infusions,)
        if per_level:
            object.__setattr__(self, "infusions", counts)
        for i, count in enumerate(counts):
            name = f"infusions[{i}]" if per_level else "infusions"
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                raise ValueError(f"Conduct.{name} = {count!r}: allowed is a whole number >= 1")
            if count > MAX_INFUSIONS:
                raise ValueError(f"Conduct.{name} = {count!r}: allowed range is [1, {MAX_INFUSIONS}]")
        if not counts:
            raise ValueError("Conduct.infusions = (): allowed is a whole number >= 1, or one per dose level")
        most = max(counts)
        if most > 1:
            # Every infusion falls inside the window that starts at the first.
            _check("Conduct", "interval_days", self.interval_days, 0.0, self.window_days / (most - 1))
        _check("Conduct", "stagger_days", self.stagger_days, 0.0, self.window_days)
        if self.dlt_onset == "after_infusion":
            last_infusion = (most - 1) * self.interval_days
            _check("Conduct", "onset_days", self.onset_days, 0.0, self.window_days - last_infusion)
        period = self.screening_days + self.window_days + self.stagger_days + self.halt_days
        arrivals = self.accrual_per_day * period / (1.0 - self.screen_failure)
        if arrivals > MAX_ARRIVALS_PER_PERIOD:
            raise ValueError(
                f"Conduct.accrual_per_month = {sum(self.accrual_per_month):g}: about {arrivals:,.0f} "
                "patients would be screened while one is screened, observed and any halt served "
                f"({period:g} days); allowed: at most {MAX_ARRIVALS_PER_PERIOD:,.0f} (a lower accrual rate "
                "or screen-failure probability, or shorter windows)"
            )

    def level_infusions(self, n_doses: int) -> tuple[int, ...]:
        """Infusions at each of ``n_doses`` dose levels."""
        if not isinstance(self.infusions, tuple):
            return (self.infusions,) * n_doses
        if len(self.infusions) != n_doses:
            raise ValueError(
                f"Conduct.infusions = {list(self.infusions)}: {len(self.infusions)} counts for {n_doses} "
                "dose levels; allowed: one count, or one per dose level"
            )
        return self.infusions

    @property
    def accrual_per_day(self) -> float:
        """Summed accrual rate over sites, patients per day."""
        return sum(self.accrual_per_month) / DAYS_PER_MONTH

    @classmethod
    def halpc(cls, accrual_per_month: tuple[float, ...] | float, **changes: Any) -> Conduct:
        """HALPC phase II-like conduct (HALPC paper, facts in docs/sources.md): screening up to 7
        days, 2 infusions 7 days apart, a 28-day window, DLTs within 72 h of an infusion, ACLF/AD
        competing risks (CANONIC) with 15/24 ACLF.  The accrual rate is not published and must be
        given; ``changes`` override."""
        base = cls(
            accrual_per_month,
            screening_days=7.0,
            infusions=2,
            interval_days=7.0,
            window_days=28.0,
            dlt_onset="after_infusion",
            onset_days=3.0,
            disease=DiseaseCourse(HALPC_ACLF_FRACTION),
        )
        return replace(base, **changes)

    @classmethod
    def nct05727722(cls, accrual_per_month: tuple[float, ...] | float, **changes: Any) -> Conduct:
        """NCT05727722-like conduct (ClinicalTrials.gov registry record NCT05727722, facts in
        docs/sources.md): one administration, DLT observation to Day 60; the accrual rate and the
        population's disease course are not in the record and are to be given (``changes``)."""
        return replace(cls(accrual_per_month, infusions=1, window_days=60.0), **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (an infinite waiting limit is None)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, DiseaseCourse):
                value = {g.name: getattr(value, g.name) for g in fields(value)}
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, float) and math.isinf(value):
                value = None
            out[f.name] = value
        return out
