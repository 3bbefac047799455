"""The package's designs in the registry (:mod:`doseesc.registry`): one entry each."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from doseesc.registry import Param, register_design


def lazy(module: str, name: str, *args: Any) -> Callable[..., Any]:
    """A factory that imports ``doseesc.designs.<module>`` when a design is first built: listing the
    designs (``doseesc --help``, ``validate``) then loads no rule module, and none of scipy."""

    def factory(n_doses: int, **options: Any) -> Any:
        target = importlib.import_module(f"doseesc.designs.{module}")
        for part in name.split("."):
            target = getattr(target, part)
        return target(*args, n_doses, **options)

    factory.__name__ = f"{module}.{name}"
    return factory


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
SIMON_LITERAL = Param(
    "simon_literal",
    "bool",
    False,
    help="name the dose below the one found too toxic even when it holds one patient or none (Simon et al.'s "
    "rule read literally); by default such a dose first gets a 3+3 cohort",
)

register_design(
    "3+3", lazy("aplusb", "APlusB"), VARIANTS, help="the 3+3 (cohorts of 3; at most 1/6 DLTs escalates)"
)
register_design(
    "2+2", lazy("aplusb", "APlusB.two_plus_two"), VARIANTS, help="the 2+2 A+B design (Lin & Shih 2001)"
)
register_design(
    "4+4", lazy("aplusb", "APlusB.four_plus_four"), VARIANTS, help="the 4+4 A+B design (Lin & Shih 2001)"
)
register_design(
    "a+b",
    lazy("aplusb", "APlusB"),
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
        lazy("titration", "AcceleratedTitration.simon", k),
        VARIANTS if k == 1 else (*VARIANTS, SIMON_LITERAL),
        help="the 3+3 on a 40% ladder (Simon et al. 1997, design 1)"
        if k == 1
        else f"accelerated titration design {k} (Simon et al. 1997), then the 3+3",
    )
register_design(
    "nct05727722",
    lazy("titration", "AcceleratedTitration.nct05727722"),
    tuple(Param(p.name, "bool", True, help=p.help, fixed=True) for p in VARIANTS),
    help="the NCT05727722 registry trial's hybrid: one-level single-patient titration, then the 3+3 "
    "with MTD = highest dose with <= 1 DLT in >= 6 patients",
)

COHORT_SIZE = Param("cohort_size", "int", 3, low=1, high=12, help="patients per cohort")
CUTOFF_ELI = Param(
    "cutoff_eli",
    "float",
    0.95,
    low=0.5,
    high=0.99,
    help="eliminate a dose and those above when n >= 3 and P(P(DLT) > target | data) exceeds this",
)
register_design(
    "boin",
    lazy("boin", "BOIN"),
    (
        COHORT_SIZE,
        Param(
            "p_saf",
            "float",
            None,
            low=0,
            high=1,
            help="highest P(DLT) deemed subtherapeutic (default 0.6 x target)",
        ),
        Param(
            "p_toxic",
            "float",
            None,
            low=0,
            high=1,
            arg="p_tox",
            help="lowest P(DLT) deemed overly toxic (default 1.4 x target)",
        ),
        CUTOFF_ELI,
        Param(
            "extrasafe",
            "bool",
            False,
            help="also stop with no MTD when P(P(DLT) > target) at the lowest dose > cutoff_eli - offset",
        ),
        Param("offset", "float", 0.05, low=0, high=0.49, help="how much stricter the extrasafe stop is"),
        Param(
            "n_earlystop",
            "int",
            100,
            low=1,
            high=10_000,
            help="stop and select when the current dose holds this many patients and the decision keeps it",
        ),
    ),
    takes_target=True,
    help="BOIN (Liu & Yuan 2015) as the R package BOIN runs it; max_n is the sample size N (default 30)",
)
INTERVAL = (
    COHORT_SIZE,
    Param(
        "eps1",
        "float",
        0.05,
        low=0,
        high=1,
        help="equivalence interval [target - eps1, target + eps2]: lower margin",
    ),
    Param("eps2", "float", 0.05, low=0, high=1, help="equivalence interval: upper margin"),
    CUTOFF_ELI,
)
register_design(
    "keyboard",
    lazy("interval", "Keyboard"),
    INTERVAL,
    takes_target=True,
    help="Keyboard (Yan, Mandrekar & Yuan 2017): strongest key against the target key",
)
register_design(
    "mtpi2",
    lazy("interval", "MTPI2"),
    INTERVAL,
    takes_target=True,
    help="mTPI-2 (Guo et al. 2017): largest unit probability mass against the equivalence interval",
)
register_design(
    "i3+3",
    lazy("interval", "I3plus3"),
    INTERVAL,
    takes_target=True,
    help="i3+3 (Liu, Wang & Ji 2020): y/n and (y - 1)/n against the equivalence interval",
)

CRM_MODEL = (
    Param(
        "skeleton",
        "probabilities",
        None,
        help="prior guesses of P(DLT), increasing, one per dose (default: from halfwidth and prior_mtd)",
    ),
    Param(
        "halfwidth",
        "float",
        0.05,
        low=0.001,
        high=0.5,
        help="indifference-interval half-width for a computed skeleton (Lee & Cheung 2009)",
    ),
    Param(
        "prior_mtd",
        "int",
        None,
        low=0,
        help="dose index of the prior guess of the MTD, for a computed skeleton (default: the middle)",
    ),
    Param(
        "working_model",
        "str",
        "empiric",
        choices=("empiric", "logistic"),
        arg="model",
        help="the CRM's working model: empiric (power) or one-parameter logistic",
    ),
    Param("intercept", "float", 3.0, low=-10, high=10, help="the logistic working model's fixed intercept"),
    Param("prior_var", "float", 1.34, low=0.01, high=100, help="variance of the normal prior on beta"),
)
"""The CRM's working model and prior (shared with the TITE-CRM)."""
CRM_RULE = (
    Param(
        "restrict",
        "bool",
        True,
        help="no skipping on escalation, and no escalation right after a cohort whose DLT rate reached "
        "the target",
    ),
    Param(
        "estimate",
        "str",
        "plugin",
        choices=("plugin", "posterior"),
        help="P(DLT) estimates: the model at the posterior mean of beta, or the posterior mean of P(DLT)",
    ),
    Param(
        "select_untried",
        "bool",
        True,
        help="whether the final selection may name a dose nobody received",
    ),
)
"""The CRM's estimates and restrictions that the TITE-CRM shares."""

register_design(
    "crm",
    lazy("crm", "CRM"),
    (
        *CRM_MODEL,
        Param("cohort_size", "int", 1, low=1, high=12, help="patients per cohort"),
        *CRM_RULE,
        Param(
            "safety_stop",
            "float",
            None,
            low=0.5,
            high=1,
            help="stop with no MTD when P(P(DLT) at the lowest dose > target) exceeds this",
        ),
        Param(
            "no_skip",
            "str",
            "given",
            choices=("given", "tried"),
            help="with restrict: escalate at most one level above the dose just given (dfcrm), or above the "
            "highest dose tried (package precautionary)",
        ),
        Param(
            "coherence",
            "str",
            "cohort",
            choices=("cohort", "dose"),
            help="with restrict: no escalation after a cohort whose DLT rate reached the target (dfcrm), or "
            "while the dose's cumulative DLT rate exceeds it (package precautionary)",
        ),
        Param(
            "stop_n_any_dose",
            "int",
            None,
            low=1,
            high=500,
            help="stop after a cohort once any dose holds this many patients",
        ),
        Param(
            "stop_n_lowest_dose",
            "int",
            None,
            low=1,
            high=500,
            help="stop after a cohort once the lowest dose holds this many patients",
        ),
        Param(
            "final",
            "str",
            "model",
            choices=("model", "next"),
            help="the MTD named: the unrestricted recommendation on all data (dfcrm), or the dose the next "
            "cohort would get (package precautionary)",
        ),
    ),
    takes_target=True,
    help="the CRM (O'Quigley et al. 1990) as the R package dfcrm runs it; max_n is the sample size N "
    "(default 30)",
)

register_design(
    "tite-crm",
    lazy("tite", "TITECRM"),
    (*CRM_MODEL, *CRM_RULE),
    takes_target=True,
    help="the TITE-CRM (Cheung & Chappell 2000): patients dosed on arrival, pending ones weighted by their "
    "follow-up; calendar time only (--engine events); max_n default 30",
)

register_design(
    "blrm",
    lazy("blrm", "BLRM"),
    (
        Param(
            "reference_dose",
            "float",
            None,
            low=0,
            help="the reference dose d* of logit p = log(alpha) + beta log(d/d*), in the doses' unit "
            "(default: the middle dose)",
        ),
        Param(
            "prior_p_ref",
            "float",
            0.25,
            low=0.001,
            high=0.999,
            help="prior guess of P(DLT) at the reference dose: log(alpha) is centred on its logit",
        ),
        Param("sd_log_alpha", "float", 2.0, low=0.01, high=10, help="prior standard deviation of log(alpha)"),
        Param("mean_log_beta", "float", 0.0, low=-5, high=5, help="prior mean of log(beta)"),
        Param("sd_log_beta", "float", 1.0, low=0.01, high=5, help="prior standard deviation of log(beta)"),
        Param(
            "prior_corr",
            "float",
            0.0,
            low=-0.95,
            high=0.95,
            help="prior correlation of log(alpha), log(beta)",
        ),
        Param(
            "lower", "float", 0.16, low=0.001, high=0.999, help="lower end of the target interval of P(DLT)"
        ),
        Param("overdose", "float", 0.33, low=0.001, high=0.999, help="P(DLT) from which a dose overdoses"),
        Param(
            "ewoc",
            "float",
            0.25,
            low=0.001,
            high=0.999,
            help="escalation with overdose control: a dose is allowed while P(overdosing) is below this",
        ),
        Param(
            "max_increase",
            "float",
            1.0,
            low=0,
            high=100,
            help="the next dose is at most (1 + this) times the dose just given (1: doubling)",
        ),
        Param(
            "choose",
            "str",
            "target",
            choices=("target", "highest"),
            help="next dose among the allowed: the highest P(target interval), or the highest dose",
        ),
        Param(
            "min_at_mtd",
            "int",
            6,
            low=1,
            high=10_000,
            help="stop when the recommended dose holds this many patients and P(target) is high enough",
        ),
        Param(
            "min_target_prob",
            "float",
            0.5,
            low=0,
            high=1,
            help="P(target interval) at the recommended dose needed to stop early",
        ),
        COHORT_SIZE,
    ),
    takes_doses=True,
    help="BLRM with escalation with overdose control (Neuenschwander et al. 2008); uses the dose values; "
    "max_n default 30",
)
