"""The A+B designs (Lin & Shih, Biostatistics 2001;2:203-215), of which the 3+3 is the best known:
the one place where their rule is written.

Cohorts of ``a`` patients start at ``start_dose``.  With ``y`` DLTs among the ``a`` patients of a
dose:

* ``y < c``: escalate to the next dose;
* ``y > d``: the dose is *too toxic* and is never treated again;
* ``c <= y <= d``: treat ``b`` more at the dose; then with ``y`` DLTs among the ``a + b``,
  ``y <= e`` escalates and ``y > e`` makes the dose too toxic.

The 3+3 is ``a = b = 3, c = d = e = 1`` (0/3 escalate, 1/3 expand, 2/3 stop; at most 1/6
escalates), the default parameter set; :meth:`APlusB.two_plus_two` and :meth:`APlusB.four_plus_four`
are two others.  Variants (named options, both off in the classic design):

``deescalate``
    When a dose is found too toxic and the dose below holds fewer than ``a + b`` patients, it is
    brought up to ``a + b`` (``b`` more after a cohort of ``a``; a cohort of ``a`` and then ``b``
    for a dose nobody has received); this repeats downward until a dose with at most ``e`` DLTs in
    ``a + b`` is found (it is the MTD) or the lowest dose fails (no MTD).
``expand_top``
    The top dose with fewer than ``c`` DLTs in ``a`` is expanded to ``a + b`` before it can be
    recommended.

Without de-escalation the MTD is the dose below the one found too toxic (which may hold only ``a``
patients, or none when the trial started above it: a documented limitation of the classic rule);
the top dose is recommended when it passes; no dose is recommended when the lowest is too toxic.
With both options every recommended dose has at most ``e`` DLTs in at least ``a + b`` patients: for
the 3+3, the MTD rule of the NCT05727722 registry record (<= 1 DLT in >= 6 patients; see
``docs/sources.md``).

The same rule is the standard phase of the accelerated titration designs
(:mod:`doseesc.designs.titration`), which hand over a dose already holding one patient (the cohort
is topped up to ``a`` with him counted) and leave single-patient or skipped doses below it; a
cohort at a dose holding ``n`` patients therefore has ``a - n`` patients, or ``a + b - n`` once the
dose holds ``a``.

The state the rule reads is deliberately small, so that equal states merge in the exact engine:

``phase``       0 accelerated (titration only), 1 escalating, 2 descending (a dose was too toxic and
                de-escalation is on);
``dose``        index of the dose the next cohort receives;
``n``, ``y``    patients and DLTs so far at that dose;
``threes``      how many doses directly below ``dose`` hold exactly ``a`` patients (they passed the
                first look), up to the first that holds ``a + b`` or lies below ``switch``: the
                history a de-escalation cascade consults;
``run_y``       the DLT counts of those doses, as digits in base ``c`` (the nearest dose last); always
                0 when ``c = 1``, since a dose passes the first look only with 0 DLTs;
``switch``      the dose below which doses hold no full cohort: the start dose, or where the
                standard phase of an accelerated titration design began; below it, doses hold the
                accelerated phase's single patients, marked in ``accel`` (bit ``d``), or nobody;
``g2``          grade-2 toxicities counted toward the accelerated phase's trigger (titration only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from doseesc.designs.base import RUNNING, State
from doseesc.designs.common import CommonDesign, check_cohort_size, check_int

ACCELERATED, ESCALATING, DESCENDING = 0, 1, 2
FIELDS = ("phase", "dose", "n", "y", "threes", "run_y", "switch", "accel", "g2")
THREE_PLUS_THREE = {"a": 3, "b": 3, "c": 1, "d": 1, "e": 1}


@dataclass(frozen=True)
class APlusB(CommonDesign):
    """An A+B design over ``n_doses`` dose levels (see the module docstring); by default the 3+3.

    ``a``, ``b``: the first and the expansion cohort (1 to 12 patients each); ``c``, ``d``, ``e``:
    the DLT counts of Lin & Shih (escalate below ``c`` of ``a``, too toxic above ``d`` of ``a`` or
    above ``e`` of ``a + b``), with ``1 <= c <= d + 1 <= a`` and ``d <= e < a + b``.
    """

    deescalate: bool = False
    expand_top: bool = False
    a: int = 3
    b: int = 3
    c: int = 1
    d: int = 1
    e: int = 1

    fields = FIELDS
    outcomes = ("dlt",)

    def __post_init__(self) -> None:
        check_cohort_size("a", self.a)
        check_cohort_size("b", self.b)
        check_int(
            "c", self.c, 1, min(self.a, self.d + 1), " (escalate on fewer than c DLTs in a; c <= d + 1)"
        )
        check_int(
            "d", self.d, self.c - 1, self.a - 1, " (too toxic on more than d DLTs in a; c - 1 <= d < a)"
        )
        check_int("e", self.e, self.d, self.a + self.b - 1, " (too toxic on more than e DLTs in a + b)")
        super().__post_init__()
        if self.deescalate and self.c ** (self.n_doses - 1) >= 2**62:
            raise ValueError(
                f"n_doses must be at most {_max_doses(self.c)} for an A+B design with c = {self.c} and "
                f"de-escalation (the state keeps the DLT count of every dose below), got {self.n_doses}"
            )

    @classmethod
    def two_plus_two(cls, n_doses: int, **options: Any) -> APlusB:
        """The 2+2: 0/2 escalates, 1/2 expands to 4, 2/2 stops; at most 1/4 escalates."""
        return cls(n_doses, a=2, b=2, c=1, d=1, e=1, **options)

    @classmethod
    def four_plus_four(cls, n_doses: int, **options: Any) -> APlusB:
        """The 4+4: 0/4 escalates, 1/4 expands to 8, 2/4 or more stops; at most 1/8 escalates."""
        return cls(n_doses, a=4, b=4, c=1, d=1, e=1, **options)

    @classmethod
    def nct05727722(cls, n_doses: int = 4) -> APlusB:
        """The registry trial's rule: MTD = highest dose with <= 1 DLT in >= 6 patients."""
        return cls(n_doses, deescalate=True, expand_top=True)

    @property
    def letters(self) -> dict[str, int]:
        return {"a": self.a, "b": self.b, "c": self.c, "d": self.d, "e": self.e}

    @property
    def name(self) -> str:
        if self.letters == THREE_PLUS_THREE:
            return "3+3"
        if (self.c, self.d, self.e) == (1, 1, 1):
            return f"{self.a}+{self.b}"
        return f"{self.a}+{self.b} (C={self.c}, D={self.d}, E={self.e})"

    @property
    def options(self) -> dict[str, Any]:
        letters = {} if self.letters == THREE_PLUS_THREE else self.letters
        return (
            {"deescalate": self.deescalate, "expand_top": self.expand_top} | letters | self.common_options()
        )

    @property
    def max_cohort(self) -> int:
        return max(self.a, self.b)

    def start(self) -> State:
        state = {f: np.zeros(1, dtype=np.int64) for f in FIELDS}
        return state | {
            "phase": np.full(1, ESCALATING),
            "dose": np.full(1, self.start_dose),
            "switch": np.full(1, self.start_dose),
            "selected": np.full(1, RUNNING),
        }

    def cohort(self, state: State) -> tuple[np.ndarray, np.ndarray]:
        """Dose index and size of the next cohort of each trial."""
        n = state["n"]
        return state["dose"], np.where(n < self.a, self.a - n, self.a + self.b - n)

    def update(self, state: State, outcome: dict[str, np.ndarray]) -> State:
        """The state after the next cohort showed ``outcome["dlt"]`` DLTs (leading trial axis)."""
        return self.standard(state, outcome["dlt"])

    def standard(self, state: State, dlt: np.ndarray) -> State:
        """The A+B rule proper, for trials in the escalating or descending phase."""
        d, phase = state["dose"], state["phase"]
        _, size = self.cohort(state)
        n = state["n"] + size
        y = state["y"] + dlt
        first = n == self.a
        top = d == self.n_doses - 1
        descending = phase == DESCENDING
        toxic = y > np.where(first, self.d, self.e)
        expand = first & ~toxic & ((y >= self.c) | (top & self.expand_top) | descending)
        passed = ~toxic & ~expand
        escalate = passed & ~top & ~descending
        # The dose below can be brought up to a + b unless it already holds them (then it is the MTD).
        below_short = (state["threes"] > 0) | (d - 1 < state["switch"])
        go_down = toxic & self.deescalate & (d > 0) & below_short
        below_n = np.where(state["threes"] > 0, self.a, (state["accel"] >> np.maximum(d - 1, 0)) & 1)
        below_y = np.where(state["threes"] > 0, state["run_y"] % self.c, 0)

        selected = np.where(passed & ~escalate, d, RUNNING)
        selected = np.where(toxic & ~go_down, d - 1, selected)
        threes = np.where(escalate, np.where(first, state["threes"] + 1, 0), state["threes"])
        run_y = np.where(escalate, np.where(first, state["run_y"] * self.c + y, 0), state["run_y"])
        return state | {
            "phase": np.where(go_down, DESCENDING, phase),
            "dose": np.where(escalate, d + 1, np.where(go_down, d - 1, d)),
            "n": np.where(escalate, 0, np.where(go_down, below_n, n)),
            "y": np.where(escalate, 0, np.where(go_down, below_y, y)),
            "threes": np.maximum(np.where(go_down, threes - 1, threes), 0) if self.deescalate else 0 * d,
            "run_y": np.where(go_down, run_y // self.c, run_y) if self.deescalate and self.c > 1 else 0 * d,
            "selected": selected,
        }


def _max_doses(c: int) -> int:
    """The most doses whose DLT counts (digits in base ``c``) fit the ``run_y`` field."""
    k = 1
    while c**k < 2**62:
        k += 1
    return k


ThreePlusThree = APlusB
"""The 3+3 is the A+B rule's default parameter set: ``ThreePlusThree(6, deescalate=True)``."""
