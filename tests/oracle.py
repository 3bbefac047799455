"""An independent, scalar reference for the A+B designs (the 3+3 among them), written straight from
the textbook rule.

Nothing here imports doseesc: the rule is re-stated in plain Python (:func:`before_cohort` and
:func:`after_cohort`) and then used two ways,

* :func:`exact_oracle` enumerates every path of a trial (every cohort's DLT count) and adds up the
  path probabilities in exact rational arithmetic (:class:`fractions.Fraction`);
* :func:`simulate_one` runs one trial with a plain per-patient loop (one uniform draw per patient).
  It is also the "plain per-trial Python loop" baseline of the benchmarks, so it stays deliberately
  simple.

:func:`oracle_metrics` then derives the target-based metrics (true MTD, probability of a correct
selection, patients at / above / below the MTD, P(total DLTs >= k)) from the exact distributions.

The A+B rule (Lin & Shih 2001, Biostatistics 2:203-215), with the cutoffs of :class:`Rule`
``a, b, c, d, e`` (``1 <= c <= d + 1 <= a``, ``d <= e < a + b``; the 3+3 is ``a = b = 3``,
``c = d = e = 1``).  Doses ``0 .. K-1``; the first cohort goes to ``start_dose``.  A cohort of ``a``
at dose ``D`` showing ``y`` DLTs:

* ``y < c``: escalate to ``D + 1``;
* ``c <= y <= d``: treat ``b`` more at ``D``; then, with ``y'`` DLTs among the ``a + b``, ``y' <= e``
  escalates and ``y' > e`` makes ``D`` too toxic;
* ``y > d``: ``D`` is too toxic.  A too-toxic dose is never treated again.

For the 3+3: 0/3 escalates, 1/3 expands to 6, >= 2/3 stops; at most 1/6 escalates.

Without de-escalation the MTD is the dose below the too-toxic one (none if that is dose 0; with
``start_dose > 0`` it may be a dose nobody received), and the top dose is selected when it passes.
With ``deescalate``: when ``D`` is too toxic and the dose below holds fewer than ``a + b`` patients,
it is brought up to ``a + b`` (``b`` more if it holds ``a``; if it holds none -- below
``start_dose`` -- a cohort of ``a``, then ``b`` more unless the ``a`` already show more than ``d``);
at most ``e`` DLTs among the ``a + b`` make it the MTD, otherwise it is too toxic and the same step
repeats further down; a dose below that already holds ``a + b`` patients (it passed) is selected at
once; the lowest dose too toxic means no MTD.  With ``expand_top``: the top dose with fewer than
``c`` DLTs among ``a`` is expanded with ``b`` more before it can be selected (at most ``e`` DLTs
among the ``a + b`` select it, more make it too toxic).

Two stopping rules act *before* a cohort at dose ``D`` (the dose the cohort would receive):

* ``stop_n_at_dose``: if ``D`` already holds at least that many patients, stop and select ``D``;
* ``max_n``: if the cohort would take the total number of patients past ``max_n``, stop and select
  ``D - 1`` (no dose when ``D`` is dose 0).

When both apply before the same cohort, ``stop_n_at_dose`` is checked first (an assumption: the
specification does not order them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import comb

COHORT = 3
"""Cohort size of the 3+3."""
NONE = -1
"""``selected`` value of a trial that recommends no dose."""
VARIANTS = ((False, False), (False, True), (True, False), (True, True))
"""Every ``(deescalate, expand_top)`` combination."""
N_DLT_THRESHOLDS = 5
"""``p_total_dlt_at_least`` holds P(total DLTs >= k) for k = 1 .. N_DLT_THRESHOLDS."""


@dataclass(frozen=True)
class Rule:
    """The A+B cutoffs and the start and stopping options (the two variants ``deescalate`` and
    ``expand_top`` are passed separately, as booleans, to every function)."""

    a: int = 3
    b: int = 3
    c: int = 1
    d: int = 1
    e: int = 1
    start_dose: int = 0
    max_n: int | None = None
    stop_n_at_dose: int | None = None

    def __post_init__(self) -> None:
        if not (self.a >= 1 and self.b >= 1 and 1 <= self.c <= self.d + 1 <= self.a):
            raise ValueError(f"invalid A+B cutoffs: need 1 <= c <= d + 1 <= a and b >= 1 in {self}")
        if not self.d <= self.e < self.a + self.b:
            raise ValueError(f"invalid A+B cutoffs: need d <= e < a + b in {self}")
        if self.start_dose < 0:
            raise ValueError(f"start_dose must be >= 0 in {self}")

    def cohort_size(self, n_here: int) -> int:
        """Size of the next cohort at a dose already holding ``n_here`` patients (0 or ``a``)."""
        assert n_here in (0, self.a), n_here
        return self.a if n_here == 0 else self.b


THREE_PLUS_THREE = Rule()


def make_rule(
    a: int = 3,
    b: int = 3,
    c: int = 1,
    d: int = 1,
    e: int = 1,
    start_dose: int = 0,
    max_n: int | None = None,
    stop_n_at_dose: int | None = None,
) -> Rule:
    return Rule(a, b, c, d, e, start_dose, max_n, stop_n_at_dose)


def before_cohort(n: Sequence[int], d: int, rule: Rule = THREE_PLUS_THREE) -> int | None:
    """The stopping rules, consulted before a cohort at dose ``d`` (``n``: patients per dose so far).

    Returns None when the cohort goes ahead, else the selected dose (``NONE``: no MTD).
    """
    if rule.stop_n_at_dose is not None and n[d] >= rule.stop_n_at_dose:
        return d
    if rule.max_n is not None and sum(n) + rule.cohort_size(n[d]) > rule.max_n:
        return d - 1  # dose 0 gives -1 == NONE
    return None


def after_cohort(
    n: Sequence[int],
    y: Sequence[int],
    d: int,
    descending: bool,
    deescalate: bool,
    expand_top: bool,
    rule: Rule = THREE_PLUS_THREE,
) -> tuple[int, bool, int | None]:
    """Apply the rule after a cohort at dose ``d``; ``n``, ``y`` are the counts per dose so far
    (including that cohort).  Only the cutoffs ``a .. e`` of ``rule`` are read here.

    Returns ``(next_dose, descending, selected)``: ``selected`` is None while the trial goes on
    (then the next cohort goes to ``next_dose``; its size is ``a`` at a dose holding nobody, ``b``
    at a dose holding ``a``), else the selected dose (``NONE``: no MTD).
    """
    top = len(n) - 1
    if n[d] == rule.a:  # the first cohort of a at d
        if y[d] > rule.d:
            toxic = True
        elif y[d] >= rule.c or descending or (d == top and expand_top):
            return d, descending, None  # b more here
        else:
            toxic = False  # fewer than c DLTs in a: passed
    else:  # a + b patients
        assert n[d] == rule.a + rule.b, (n, d, rule)
        toxic = y[d] > rule.e
    if not toxic:
        if descending or d == top:
            return d, descending, d
        return d + 1, descending, None
    # d is too toxic
    if d == 0:
        return d, descending, NONE
    below = d - 1
    if deescalate and n[below] < rule.a + rule.b:
        return below, True, None  # bring the dose below up to a + b
    return d, descending, below


def simulate_one(
    p: Sequence[float], rng, deescalate: bool = False, expand_top: bool = False, **rule_kw
) -> tuple[int, list[int], list[int]]:
    """Run one trial; ``rng`` is a :class:`random.Random` or a :class:`numpy.random.Generator`
    (anything whose ``random()`` returns a uniform on [0, 1)).  Keyword arguments are the fields
    of :class:`Rule` (``a, b, c, d, e, start_dose, max_n, stop_n_at_dose``; default: the 3+3).

    Returns ``(selected, n, y)``: the selected dose (``NONE`` for none) and the lists of patients
    and DLTs per dose.
    """
    rule = make_rule(**rule_kw) if rule_kw else THREE_PLUS_THREE
    n = [0] * len(p)
    y = [0] * len(p)
    d = rule.start_dose
    descending = False
    while True:
        selected = before_cohort(n, d, rule)
        if selected is not None:
            return selected, n, y
        for _ in range(rule.cohort_size(n[d])):
            n[d] += 1
            if rng.random() < p[d]:
                y[d] += 1
        d, descending, selected = after_cohort(n, y, d, descending, deescalate, expand_top, rule)
        if selected is not None:
            return selected, n, y


@dataclass(frozen=True)
class Path:
    """One complete trial: the cohorts in order as (dose, DLTs) pairs, and the outcome."""

    cohorts: tuple[tuple[int, int], ...]
    selected: int
    n: tuple[int, ...]
    y: tuple[int, ...]


def _walk(n_doses: int, deescalate: bool, expand_top: bool, rule: Rule) -> Iterator[tuple[Path, tuple]]:
    """Every possible trial, with the size of each of its cohorts."""
    if not 0 <= rule.start_dose < n_doses:
        raise ValueError(f"start_dose {rule.start_dose} outside 0 .. {n_doses - 1}")

    def walk(n, y, d, descending, cohorts, sizes):
        selected = before_cohort(n, d, rule)
        if selected is not None:
            yield Path(cohorts, selected, tuple(n), tuple(y)), sizes
            return
        size = rule.cohort_size(n[d])
        for k in range(size + 1):
            n2, y2 = list(n), list(y)
            n2[d] += size
            y2[d] += k
            here, here_sizes = (*cohorts, (d, k)), (*sizes, size)
            d2, desc2, selected = after_cohort(n2, y2, d, descending, deescalate, expand_top, rule)
            if selected is None:
                yield from walk(n2, y2, d2, desc2, here, here_sizes)
            else:
                yield Path(here, selected, tuple(n2), tuple(y2)), here_sizes

    yield from walk([0] * n_doses, [0] * n_doses, rule.start_dose, False, (), ())


def enumerate_paths(
    n_doses: int, deescalate: bool = False, expand_top: bool = False, **rule_kw
) -> Iterator[Path]:
    """Every possible trial of the design over ``n_doses`` doses (every cohort outcome 0..size).
    Keyword arguments are the fields of :class:`Rule` (default: the 3+3)."""
    for path, _ in _walk(n_doses, deescalate, expand_top, make_rule(**rule_kw)):
        yield path


def cohort_pmf(p: Fraction, k: int, size: int = COHORT) -> Fraction:
    """P(k DLTs among ``size`` patients), each with DLT probability ``p``."""
    return comb(size, k) * p**k * (1 - p) ** (size - k)


def path_probability(path: Path, pmf: Sequence[Sequence[Fraction]]) -> Fraction:
    """Probability of a 3+3 ``path`` when ``pmf[d][k]`` is that of k DLTs in a cohort of 3 at dose d."""
    prob = Fraction(1)
    for d, k in path.cohorts:
        prob *= pmf[d][k]
    return prob


Dist = dict[int, Fraction]


@dataclass(frozen=True)
class ExactOC:
    """Exact operating characteristics, as distributions (value -> probability)."""

    select: Dist
    """P(select k) for k = 0..K-1, and P(none) under key ``NONE``."""
    n: list[Dist]
    """Distribution of the patients treated at each dose."""
    y: list[Dist]
    """Distribution of the DLTs at each dose."""
    total_n: Dist
    total_dlt: Dist

    @property
    def p_select(self) -> list[Fraction]:
        return [self.select.get(k, Fraction(0)) for k in range(len(self.n))]

    @property
    def p_none(self) -> Fraction:
        return self.select.get(NONE, Fraction(0))

    @property
    def mean_n(self) -> list[Fraction]:
        return [moment(dist, 1) for dist in self.n]

    @property
    def mean_dlt(self) -> list[Fraction]:
        return [moment(dist, 1) for dist in self.y]

    @property
    def var_n(self) -> list[Fraction]:
        return [central_moment(dist, 2) for dist in self.n]

    @property
    def var_dlt(self) -> list[Fraction]:
        return [central_moment(dist, 2) for dist in self.y]


def moment(dist: Dist, j: int) -> Fraction:
    """E[X**j]."""
    return sum((prob * value**j for value, prob in dist.items()), Fraction(0))


def central_moment(dist: Dist, j: int) -> Fraction:
    """E[(X - E[X])**j]."""
    mu = moment(dist, 1)
    return sum((prob * (value - mu) ** j for value, prob in dist.items()), Fraction(0))


def exact_oracle(
    p: Sequence[Fraction], deescalate: bool = False, expand_top: bool = False, **rule_kw
) -> ExactOC:
    """Exact operating characteristics by summing the probability of every path.

    ``p`` holds the DLT probability per dose as Fractions (ints and decimal strings also work).
    Keyword arguments are the fields of :class:`Rule` (default: the 3+3).
    """
    rule = make_rule(**rule_kw)
    p = [Fraction(q) for q in p]
    pmf: dict[tuple[int, int], list[Fraction]] = {}
    for d, q in enumerate(p):
        for size in {rule.a, rule.b}:
            pmf[d, size] = [cohort_pmf(q, k, size) for k in range(size + 1)]
    select: Dist = defaultdict(Fraction)
    n_dist: list[Dist] = [defaultdict(Fraction) for _ in p]
    y_dist: list[Dist] = [defaultdict(Fraction) for _ in p]
    total_n: Dist = defaultdict(Fraction)
    total_dlt: Dist = defaultdict(Fraction)
    for path, sizes in _walk(len(p), deescalate, expand_top, rule):
        prob = Fraction(1)
        for (d, k), size in zip(path.cohorts, sizes, strict=True):
            prob *= pmf[d, size][k]
        if prob == 0:
            continue
        select[path.selected] += prob
        for d in range(len(p)):
            n_dist[d][path.n[d]] += prob
            y_dist[d][path.y[d]] += prob
        total_n[sum(path.n)] += prob
        total_dlt[sum(path.y)] += prob
    return ExactOC(
        select=dict(select),
        n=[dict(x) for x in n_dist],
        y=[dict(x) for x in y_dist],
        total_n=dict(total_n),
        total_dlt=dict(total_dlt),
    )


# --------------------------------------------------------------------------------------------
# Target-based metrics


def true_mtd(p: Sequence[Fraction], target: Fraction) -> int:
    """The dose whose DLT probability is closest to ``target`` (the lower dose on a tie)."""
    best = 0
    for k in range(1, len(p)):
        if abs(p[k] - target) < abs(p[best] - target):
            best = k
    return best


def acceptable_doses(
    p: Sequence[Fraction], target: Fraction, band: tuple[Fraction, Fraction] | None = None
) -> tuple[int | None, list[int]]:
    """``(true MTD, the doses whose selection is correct)``.

    Without a band the set is the true MTD alone.  With a band ``(lo, hi)`` it holds the doses with
    ``lo <= p <= hi`` and the true MTD is the one of them closest to the target (lower on a tie);
    when there are none and every dose has ``p > hi`` the true MTD is None and the correct decision
    is no dose (empty set); when there are none otherwise it is the dose closest to the target.
    """
    closest = true_mtd(p, target)
    if band is None:
        return closest, [closest]
    lo, hi = band
    inside = [k for k, q in enumerate(p) if lo <= q <= hi]
    if inside:
        return min(inside, key=lambda k: (abs(p[k] - target), k)), inside
    if all(q > hi for q in p):
        return None, []
    return closest, [closest]


def oracle_metrics(
    oc: ExactOC, p: Sequence[Fraction], target, band: tuple | None = None
) -> dict[str, object]:
    """The target-based metrics of ``oc`` (exact Fractions), computed from its distributions.

    ``p``, ``target`` and ``band`` are converted with :class:`Fraction` (pass decimal strings or
    Fractions to keep decimal ties exact).  Keys as in doseesc's ``OperatingCharacteristics.metrics``:

    * ``true_mtd``: see :func:`acceptable_doses`;
    * ``p_correct``: P(selected dose in the acceptable set), or P(no dose) when ``true_mtd`` is None;
    * ``p_select_above_mtd``: P(selected dose above every acceptable dose), or P(any dose);
    * ``share_patients_at_mtd`` / ``above`` / ``below``: E[patients at acceptable doses / at doses
      above the highest / below the lowest acceptable dose] / E[total patients] (when ``true_mtd`` is
      None: 0, 1 and 0);
    * ``p_total_dlt_at_least``: [P(total DLTs >= k) for k = 1 .. 5].
    """
    p = [Fraction(q) for q in p]
    target = Fraction(target)
    band = None if band is None else (Fraction(band[0]), Fraction(band[1]))
    mtd, ok = acceptable_doses(p, target, band)
    k_doses = range(len(p))
    mean_n = oc.mean_n
    total = sum(mean_n, Fraction(0))
    p_select = oc.p_select
    if mtd is None:
        p_correct = oc.p_none
        p_above = 1 - oc.p_none
        at, above, below = Fraction(0), Fraction(1), Fraction(0)
    else:
        p_correct = sum((p_select[k] for k in ok), Fraction(0))
        p_above = sum((p_select[k] for k in k_doses if k > max(ok)), Fraction(0))
        at = sum((mean_n[k] for k in ok), Fraction(0)) / total
        above = sum((mean_n[k] for k in k_doses if k > max(ok)), Fraction(0)) / total
        below = sum((mean_n[k] for k in k_doses if k < min(ok)), Fraction(0)) / total
    at_least = [
        sum((q for m, q in oc.total_dlt.items() if m >= j), Fraction(0))
        for j in range(1, N_DLT_THRESHOLDS + 1)
    ]
    return {
        "target": target,
        "true_mtd": mtd,
        "p_correct": p_correct,
        "p_select_above_mtd": p_above,
        "share_patients_at_mtd": at,
        "share_patients_above_mtd": above,
        "share_patients_below_mtd": below,
        "p_total_dlt_at_least": at_least,
    }
