"""The package's designs in the registry (:mod:`doseesc.registry`): one entry each."""

from __future__ import annotations

from doseesc.designs.aplusb import APlusB
from doseesc.designs.titration import AcceleratedTitration
from doseesc.registry import Param, register_design

DEESCALATE = Param(
    "deescalate",
    "bool",
    False,
    help="bring the dose below a too-toxic one up to a + b patients (6 for the 3+3), repeating downward",
)
EXPAND_TOP = Param(
    "expand_top", "bool", False, help="expand the top dose to a + b patients before selecting it"
)
VARIANTS = (DEESCALATE, EXPAND_TOP)

register_design("3+3", APlusB, VARIANTS, help="the 3+3 (cohorts of 3; at most 1/6 DLTs escalates)")
register_design("2+2", APlusB.two_plus_two, VARIANTS, help="the 2+2 A+B design (Lin & Shih 2001)")
register_design("4+4", APlusB.four_plus_four, VARIANTS, help="the 4+4 A+B design (Lin & Shih 2001)")
register_design(
    "a+b",
    APlusB,
    (
        Param("a", "int", 3, low=1, high=12, help="first cohort at a dose (patients)"),
        Param("b", "int", 3, low=1, high=12, help="expansion cohort (patients)"),
        Param("c", "int", 1, low=1, high=12, help="escalate on fewer than c DLTs in a"),
        Param("d", "int", 1, low=0, high=11, help="too toxic on more than d DLTs in a (c - 1 <= d < a)"),
        Param("e", "int", 1, low=0, high=23, help="too toxic on more than e DLTs in a + b (d <= e < a + b)"),
        *VARIANTS,
    ),
    help="any A+B design (Lin & Shih 2001): cohorts of a, then b more, with DLT cut-offs c, d, e",
)
for k in (1, 2, 3, 4):
    register_design(
        f"atd{k}",
        lambda n_doses, k=k, **options: AcceleratedTitration.simon(k, n_doses, **options),
        VARIANTS,
        help="the 3+3 on a 40% ladder (Simon et al. 1997, design 1)"
        if k == 1
        else f"accelerated titration design {k} (Simon et al. 1997), then the 3+3",
    )
register_design(
    "nct05727722",
    lambda n_doses, deescalate=True, expand_top=True, **common: AcceleratedTitration.nct05727722(
        n_doses, **common
    ),
    tuple(Param(p.name, "bool", True, help=p.help, fixed=True) for p in VARIANTS),
    help="the NCT05727722 registry trial's hybrid: one-level single-patient titration, then the 3+3 "
    "with MTD = highest dose with <= 1 DLT in >= 6 patients",
)
