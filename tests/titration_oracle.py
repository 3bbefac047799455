"""An independent, scalar reference for the accelerated titration designs' single-course decisions,
written from the rule as documented (Simon et al., J Natl Cancer Inst 1997;89:1138-47, with the
conventions of ``doseesc.designs.titration``), keeping every dose's patients and DLTs explicitly.

Nothing here imports doseesc.  :func:`exact_titration` enumerates every trial path (each patient
has a DLT, a grade-2 toxicity and no worse, or neither) with its probability and returns, per dose,
the probability that the trial names it the MTD and the expected patients it receives, and apart
from that the probability that the named dose holds fewer than 3 patients.

The rule:

* accelerated phase: one patient per cohort at dose ``D``, starting at dose 0; it ends (the
  *switch*) at the first DLT, at the second grade-2 patient, or at the top dose whatever happens;
  otherwise the next patient gets ``min(D + step, top)``;
* at the switch dose the triggering patient counts toward a 3+3 cohort: ``3 - n`` patients are
  added, then the 3+3 (0/3 escalate, 1/3 treat 3 more, at most 1/6 escalate, else too toxic);
* ``expand_top``: the top dose with 0/3 gets 3 more before it is named;
* a dose found too toxic is never treated again; the dose below is then named, unless:
  ``deescalate``: it holds fewer than 6 patients, and is brought up to 6 (3 at a time, its earlier
  patients counted), named if at most 1 of the 6 had a DLT, too toxic otherwise (the step repeats
  downward); default (neither ``deescalate`` nor ``literal``): it holds fewer than 3 patients, and
  is brought up to 3 (its earlier patient counted) and judged by the 3+3's look without escalating
  (0/3 names it, 1/3 treats 3 more and at most 1/6 names it, else too toxic and the step repeats
  downward); ``literal``: it is named whatever it holds;
* the lowest dose too toxic: no dose is named.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

ACC, STD, DESC, FILL = "accelerated", "standard", "descending", "filling"


@dataclass(frozen=True)
class Titration:
    step: int = 1
    deescalate: bool = False
    expand_top: bool = False
    literal: bool = False


@dataclass(frozen=True)
class Result:
    p_select: list[float]
    p_none: float
    mean_n: list[float]
    p_under_treated: float
    """P(the named dose holds fewer than 3 patients)."""


def exact_titration(rule: Titration, p_dlt: list[float], p_g2: list[float]) -> Result:
    """The exact distribution of the trial's end: the named dose and every dose's patients."""
    k = len(p_dlt)
    top = k - 1

    def cohort_outcomes(dose: int, size: int):
        """(DLTs, probability) of a cohort of ``size`` at ``dose``, grade 2 ignored."""
        p = p_dlt[dose]
        out = []
        for y in range(size + 1):
            ways = 1
            for i in range(y):
                ways = ways * (size - i) // (i + 1)
            out.append((y, ways * p**y * (1 - p) ** (size - y)))
        return out

    def named(d: int, n: tuple[int, ...]) -> dict:
        return {(d, n): 1.0}

    def too_toxic(dose: int, n: tuple[int, ...], y: tuple[int, ...]) -> dict:
        if dose == 0:
            return named(-1, n)
        below = dose - 1
        if rule.deescalate and n[below] < 6:
            return go(DESC, below, n, y, 0)
        if not rule.deescalate and not rule.literal and n[below] < 3:
            return go(FILL, below, n, y, 0)
        return named(below, n)

    @cache
    def go(phase: str, dose: int, n: tuple[int, ...], y: tuple[int, ...], g2: int) -> dict:
        out: dict = {}

        def add(dist: dict, w: float) -> None:
            for key, v in dist.items():
                out[key] = out.get(key, 0.0) + w * v

        if phase == ACC:
            p, q = p_dlt[dose], p_g2[dose]
            for dlt, g, w in ((1, 0, p), (0, 1, q), (0, 0, 1 - p - q)):
                if w <= 0:
                    continue
                n2 = list(n)
                y2 = list(y)
                n2[dose] += 1
                y2[dose] += dlt
                if dlt or g2 + g >= 2 or dose == top:
                    add(after_cohort(STD, dose, tuple(n2), tuple(y2)), w)
                else:
                    add(go(ACC, min(dose + rule.step, top), tuple(n2), tuple(y2), g2 + g), w)
            return out
        size = 3 - n[dose] if n[dose] < 3 else 6 - n[dose]
        for dlt, w in cohort_outcomes(dose, size):
            n2 = list(n)
            y2 = list(y)
            n2[dose] += size
            y2[dose] += dlt
            add(after_cohort(phase, dose, tuple(n2), tuple(y2)), w)
        return out

    def after_cohort(phase: str, dose: int, n: tuple[int, ...], y: tuple[int, ...]) -> dict:
        """The 3+3's look at ``dose`` once it holds ``n[dose]`` patients (3 or 6; fewer only at the
        switch, where the top-up has not come yet)."""
        if n[dose] < 3:
            return go(phase, dose, n, y, 0)
        first = n[dose] == 3
        if y[dose] > 1:
            return too_toxic(dose, n, y)
        if first and (y[dose] == 1 or phase == DESC or (dose == top and rule.expand_top and phase == STD)):
            return go(phase, dose, n, y, 0)  # 3 more
        if phase == STD and dose < top:
            return go(STD, dose + 1, n, y, 0)
        return named(dose, n)

    dist = go(ACC, 0, (0,) * k, (0,) * k, 0)
    p_select, mean_n = [0.0] * k, [0.0] * k
    p_none = under = 0.0
    for (d, n), w in dist.items():
        if d < 0:
            p_none += w
        else:
            p_select[d] += w
            under += w if n[d] < 3 else 0.0
        for j in range(k):
            mean_n[j] += w * n[j]
    return Result(p_select, p_none, mean_n, under)
