"""An independent, scalar reference for the 3+3 design, written straight from the textbook rule.

Nothing here imports doseesc: the rule is re-stated in plain Python (:func:`after_cohort`) and then
used two ways,

* :func:`exact_oracle` enumerates every path of a trial (every cohort's DLT count, 0..3) and adds
  up the path probabilities in exact rational arithmetic (:class:`fractions.Fraction`);
* :func:`simulate_one` runs one trial with a plain per-patient loop (one uniform draw per patient).
  It is also the "plain per-trial Python loop" baseline of the benchmarks, so it stays deliberately
  simple.

The rule (doses ``0 .. K-1``, cohorts of 3, start at dose 0).  After a cohort at dose ``d``:

* 0/3 DLTs: escalate to ``d + 1``;
* 1/3: treat 3 more at ``d``; then at most 1/6 escalates and 2/6 or more makes ``d`` too toxic;
* 2/3 or more: ``d`` is too toxic.  A too-toxic dose is never treated again.

Without de-escalation the MTD is the dose below the too-toxic one (none if that is dose 0), and the
top dose is selected when it passes.  With ``deescalate``: when ``d`` is too toxic and the dose
below holds only 3 patients, 3 more are treated there; at most 1/6 then makes it the MTD, otherwise
it is too toxic and the same step repeats further down; a dose below that already holds 6 patients
(it passed) is selected at once.  With ``expand_top``: the top dose with 0/3 is expanded to 6
patients before it can be selected.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import comb

COHORT = 3
NONE = -1
"""``selected`` value of a trial that recommends no dose."""
VARIANTS = ((False, False), (False, True), (True, False), (True, True))
"""Every ``(deescalate, expand_top)`` combination."""


def after_cohort(
    n: Sequence[int], y: Sequence[int], d: int, descending: bool, deescalate: bool, expand_top: bool
) -> tuple[int, bool, int | None]:
    """Apply the rule after a cohort at dose ``d``; ``n``, ``y`` are the counts per dose so far.

    Returns ``(next_dose, descending, selected)``: ``selected`` is None while the trial goes on
    (then the next cohort of 3 goes to ``next_dose``), else the selected dose (``NONE``: no MTD).
    """
    top = len(n) - 1
    if y[d] <= 1:
        if n[d] == COHORT and (y[d] == 1 or (d == top and expand_top)):
            return d, descending, None  # 1/3, or 0/3 at the top with expansion: 3 more here
        # d passed (0/3, or at most 1/6)
        if descending or d == top:
            return d, descending, d
        return d + 1, descending, None
    # d is too toxic
    if d == 0:
        return d, descending, NONE
    below = d - 1
    if deescalate and n[below] == COHORT:
        return below, True, None  # 3 more at the dose below (it showed 0/3)
    return d, descending, below


def simulate_one(p: Sequence[float], rng, deescalate: bool = False, expand_top: bool = False):
    """Run one trial; ``rng`` is a :class:`random.Random` or a :class:`numpy.random.Generator`
    (anything whose ``random()`` returns a uniform on [0, 1)).

    Returns ``(selected, n, y)``: the selected dose (``NONE`` for none) and the lists of patients
    and DLTs per dose.
    """
    n = [0] * len(p)
    y = [0] * len(p)
    d = 0
    descending = False
    while True:
        for _ in range(COHORT):
            n[d] += 1
            if rng.random() < p[d]:
                y[d] += 1
        d, descending, selected = after_cohort(n, y, d, descending, deescalate, expand_top)
        if selected is not None:
            return selected, n, y


@dataclass(frozen=True)
class Path:
    """One complete trial: the cohorts in order as (dose, DLTs) pairs, and the outcome."""

    cohorts: tuple[tuple[int, int], ...]
    selected: int
    n: tuple[int, ...]
    y: tuple[int, ...]


def enumerate_paths(n_doses: int, deescalate: bool = False, expand_top: bool = False) -> Iterator[Path]:
    """Every possible trial of the design over ``n_doses`` doses (every cohort outcome 0..3)."""

    def walk(n, y, d, descending, cohorts):
        for k in range(COHORT + 1):
            n2, y2 = list(n), list(y)
            n2[d] += COHORT
            y2[d] += k
            here = (*cohorts, (d, k))
            d2, desc2, selected = after_cohort(n2, y2, d, descending, deescalate, expand_top)
            if selected is None:
                yield from walk(n2, y2, d2, desc2, here)
            else:
                yield Path(here, selected, tuple(n2), tuple(y2))

    yield from walk([0] * n_doses, [0] * n_doses, 0, False, ())


def cohort_pmf(p: Fraction, k: int) -> Fraction:
    """P(k DLTs among 3 patients), each with DLT probability ``p``."""
    return comb(COHORT, k) * p**k * (1 - p) ** (COHORT - k)


def path_probability(path: Path, pmf: Sequence[Sequence[Fraction]]) -> Fraction:
    """Probability of ``path`` when ``pmf[d][k]`` is that of k DLTs in a cohort at dose d."""
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


def exact_oracle(p: Sequence[Fraction], deescalate: bool = False, expand_top: bool = False) -> ExactOC:
    """Exact operating characteristics by summing the probability of every path.

    ``p`` holds the DLT probability per dose as Fractions (ints and decimal strings also work).
    """
    p = [Fraction(q) for q in p]
    pmf = [[cohort_pmf(q, k) for k in range(COHORT + 1)] for q in p]
    select: Dist = defaultdict(Fraction)
    n_dist: list[Dist] = [defaultdict(Fraction) for _ in p]
    y_dist: list[Dist] = [defaultdict(Fraction) for _ in p]
    total_n: Dist = defaultdict(Fraction)
    total_dlt: Dist = defaultdict(Fraction)
    for path in enumerate_paths(len(p), deescalate, expand_top):
        prob = path_probability(path, pmf)
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
