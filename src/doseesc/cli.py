"""The ``doseesc`` command line.

Commands: ``simulate`` (a design under a toxicity model given as options), ``rules`` and
``designs`` (what the designs do and take), ``calibrate`` (the HALPC bleeding model's posterior),
``run`` (a scenario file: summary on stdout, results, tables and figures in a folder), ``validate``
(check scenario files without running them), ``compare`` (scenarios side by side), ``sweep`` (a
grid of settings) and ``report`` (a results folder as a protocol's operating-characteristics
section).  Only the chosen command's options are built and heavy libraries are imported where
they are used, so ``doseesc --version`` answers without importing numpy or matplotlib.

Errors in the arguments or in a scenario file end with exit status 2 and one line on stderr naming
the option or the file and key, and what is allowed; an interrupted run (Ctrl-C) ends with status
130 and one line, leaving its output folder as it was.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import sys
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from doseesc import __version__, interrupts, registry
from doseesc.scenario_errors import ScenarioWarning

if TYPE_CHECKING:
    from doseesc.build import ConductSpec, DesignSpec, DoseSpec, HalpcSpec, LatentSpec, RegimenSpec, TableSpec

# Heavy modules (numpy, scipy, matplotlib, the designs) are imported by the commands that use them,
# so that doseesc --version and doseesc validate answer at once.
ENGINES = tuple(registry.REGISTRY.engines)

# Calendar-time options of --engine events: option name -> scenario key in [conduct].
CONDUCT_OPTIONS = {
    "accrual": "accrual",
    "screening_days": "screening_days",
    "screen_failure": "screen_failure",
    "max_wait_days": "max_wait_days",
    "stagger_days": "stagger_days",
    "window_days": "window_days",
    "dlt_onset": "dlt_onset",
    "cohort_decision": "cohort_decision",
    "halt_probability": "halt_probability",
    "halt_days": "halt_days",
    "max_days": "max_days",
}
# Options of `simulate` by scenario key: errors from doseesc.build name settings by key.
_OPTIONS = {
    "toxicity.p_dlt": "--p-tox",
    "toxicity.p_grade2": "--p-grade2",
    "toxicity.p_grade4": "--p-grade4",
    "toxicity.posterior": "--posterior",
    "toxicity.model": "--model",
    "run.engines": "--engine",
    "doses.unit": "--dose-unit",
    "doses.values": "--doses",
    "doses.levels": "--levels",
    "design.name": "--design",
    "regimen.infusions": "--infusions",
    "regimen.interval_days": "--interval-days",
    "conduct": "--accrual-per-month",
}


def _option(key: str) -> str:
    base = re.sub(r"(\[\d+\])+$", "", key)
    return _OPTIONS.get(base, "--" + base.rsplit(".", 1)[-1].replace("_", "-"))


def _conduct_options(message: str) -> str:
    """Name the fields of the conduct (``Conduct.window_days[0]``) by their options (``--window-days``)."""
    return re.sub(
        r"\b(?:Conduct|DiseaseCourse)\.(\w+)(?:\[\d+\])?",
        lambda m: "--" + m.group(1).replace("_", "-"),
        message,
    )


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: ``doseesc: error: ...``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, _error_lines(message))


def _error_lines(message: str) -> str:
    """Every line of ``message`` (a scenario file may have several errors) as its own error line."""
    return "".join(f"doseesc: error: {line}\n" for line in message.splitlines() or [""])


def _probabilities(text: str) -> list[float]:
    items = [s.strip() for s in text.split(",")]
    if not text.strip() or any(not s for s in items):
        raise argparse.ArgumentTypeError("expected a comma-separated list of probabilities in [0, 1]")
    values = []
    for s in items:
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{s!r} is not a number; allowed: probabilities in [0, 1]"
            ) from None
        if not 0.0 <= v <= 1.0:  # also rejects NaN
            raise argparse.ArgumentTypeError(f"{s} is outside the allowed range [0, 1]")
        values.append(v)
    return values


def _numbers(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None
    if not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: every value must be a finite number")
    return values


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; allowed: 1 or more") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not allowed; allowed: 1 or more")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; allowed: 0 or more") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is not allowed; allowed: 0 or more")
    return value


def build_parser(command: str | None = "") -> argparse.ArgumentParser:
    """The command line's parser.  Only ``command``'s options are built (every command when it is
    ``""``; none when it is None, as for ``doseesc --version``); the others are listed by name and
    help, so that a command does not import what only another command's options need (the design
    registry, for one)."""
    parser = _Parser(prog="doseesc", description="Dose-escalation trial simulator.")
    parser.add_argument("--version", action="version", version=f"doseesc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sim = sub.add_parser(
        "simulate",
        help="operating characteristics of a design under a true dose-toxicity curve",
        description="Operating characteristics of a design under a true dose-toxicity curve.",
    )
    if command in ("", "simulate"):
        _simulate_options(sim)

    rules = sub.add_parser(
        "rules",
        help="a design's decision rules: boundary table, or dose-transition pathways",
        description="Print the decision rules a protocol states: an interval design's boundary table "
        "(escalate if DLTs <=, de-escalate if >=, eliminate if >=, for n = 1..N), or, for any design, "
        "the dose-transition pathways of the first K cohorts with their probabilities under --p-tox.",
    )
    if command in ("", "rules"):
        _rules_options(rules)

    sub.add_parser(
        "designs",
        help="the registered designs and their parameters (Markdown)",
        description="List the registered designs, their parameters, allowed values and defaults "
        "(the [design] section of docs/scenarios.md).",
    )

    cal = sub.add_parser(
        "calibrate",
        help="posterior of a calibrated toxicity model",
        description="Calibrate the HALPC bleeding-risk model to the sentinel findings under two priors, "
        "reading the sentinel's ~5e6 cells/kg per infusion or per patient (docs/halpc.md).",
    )
    if command in ("", "calibrate"):
        _calibrate_options(cal)

    run = sub.add_parser(
        "run",
        help="run a scenario file: summary table, results.json, CSV tables and figures",
        description=(
            "Run the engines a scenario file lists; print a summary and write results.json, CSV tables "
            "and figures (PNG and SVG) into a folder that is replaced whole, only once complete."
        ),
    )
    if command in ("", "run"):
        _run_command_options(run)

    val = sub.add_parser(
        "validate",
        help="check scenario files without running them",
        description="Check scenario files (syntax, keys, types, ranges, models) without running them.",
    )
    if command in ("", "validate"):
        _validate_options(val)

    cmp_ = sub.add_parser(
        "compare",
        help="scenarios (designs) side by side: a table and a figure",
        description=(
            "Run several scenarios with one engine each and show them side by side (table on stdout; "
            "comparison.csv, comparison.json and a figure in --out)."
        ),
    )
    if command in ("", "compare"):
        _compare_options(cmp_)

    swp = sub.add_parser(
        "sweep",
        help="run a scenario over a grid of settings: one tidy table, figures, resumable",
        description=(
            "Run every combination of a sweep file's axes (see docs/scenarios.md, Sweep files) in work "
            "units of (combination, chunk), locally or on Dask; write sweep.csv, sweep.json and figures "
            "into --out. Finished units are kept in DIR/units: a re-run skips them."
        ),
    )
    if command in ("", "sweep"):
        _sweep_options(swp)

    rep = sub.add_parser(
        "report",
        help="the operating-characteristics section of a protocol from a run, compare or sweep folder",
        description=(
            "Write a report of a doseesc run, compare or sweep results folder: a draft paragraph for the "
            "statistical section, one table per scenario (true MTD in bold) and the figures; HTML (one "
            "self-contained file that prints), Markdown or LaTeX (figures in a folder beside it)."
        ),
    )
    if command in ("", "report"):
        _report_options(rep)
    return parser


def _simulate_options(sim: argparse.ArgumentParser) -> None:
    sim.add_argument(
        "--design", choices=registry.design_names(), required=True, help="the design (see doseesc designs)"
    )
    tox = sim.add_argument_group("toxicity (one of --p-tox, --latent or --model halpc-bleeding)")
    tox.add_argument(
        "--model",
        choices=("halpc-bleeding",),
        help="HALPC bleeding-risk model calibrated to the sentinel findings (needs --doses, --dose-unit)",
    )
    tox.add_argument("--dose-unit", help="unit of --doses for --model, e.g. 1e6cells/kg, 1e9cells")
    tox.add_argument(
        "--posterior",
        action="store_true",
        help="--model: each simulated trial draws its own parameters from the calibration's posterior",
    )
    tox.add_argument(
        "--prior",
        choices=("weakly-informative", "sceptical"),
        default="weakly-informative",
        help="--model: prior of the calibration (default weakly-informative)",
    )
    tox.add_argument(
        "--sentinel-dose",
        choices=("per_infusion", "per_patient"),
        default="per_infusion",
        help="--model: the sentinel's ~5e6 cells/kg is the dose of every infusion (default) or each "
        "patient's total (docs/halpc.md)",
    )
    tox.add_argument(
        "--p-tox",
        type=_probabilities,
        metavar="P1,P2,...",
        help="true DLT (grade >= 3) probability at each dose, in increasing dose order",
    )
    tox.add_argument(
        "--p-grade2",
        type=_probabilities,
        metavar="P1,...",
        help="probability of a grade-2 (no worse) toxicity at each dose (accelerated titration)",
    )
    tox.add_argument(
        "--p-grade4",
        type=_probabilities,
        metavar="P1,...",
        help="the part of --p-tox that is grade 4, per dose (course engine; default 0)",
    )
    tox.add_argument(
        "--latent",
        type=_numbers,
        metavar="ALPHA,SD_PATIENT,SD_COURSE,K2,K3,K4",
        help="Simon et al.'s latent model: cumulative-dose weight, SDs, grade thresholds (log dose)",
    )
    tox.add_argument(
        "--doses",
        type=_numbers,
        metavar="D1,D2,...",
        help="dose values: the ladder of --latent (default 40%% steps from 1), or --model's doses",
    )
    tox.add_argument(
        "--levels", type=_positive_int, help="number of ladder levels for --latent without --doses"
    )
    _design_options(sim)
    course = sim.add_argument_group("courses (--engine courses)")
    course.add_argument("--courses", type=_positive_int, default=1, help="courses per patient (default 1)")
    course.add_argument(
        "--intrapatient",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="intrapatient escalation (default: on for atd2-atd4, off otherwise)",
    )
    course.add_argument(
        "--on-dlt", choices=("stop", "reduce"), default="stop", help="after a DLT (default stop)"
    )
    course.add_argument(
        "--low-level",
        type=int,
        default=0,
        help="count patients first treated below this dose index (0-based)",
    )
    reg = sim.add_argument_group("regimen (--model halpc-bleeding and --engine events)")
    reg.add_argument("--infusions", type=_positive_int, help="administrations per patient (default 1)")
    reg.add_argument("--interval-days", type=float, help="days between infusions (default 7)")
    ev = sim.add_argument_group("calendar time (--engine events; units: days, patients per month)")
    ev.add_argument(
        "--accrual-per-month", type=_numbers, metavar="R1[,R2,...]", help="accrual rate, one per site"
    )
    ev.add_argument("--accrual", choices=("poisson", "regular"), help="arrival process (default poisson)")
    ev.add_argument("--screening-days", type=float, help="screening lasts up to this (uniform; default 0)")
    ev.add_argument("--screen-failure", type=float, help="probability a screened patient is ineligible")
    ev.add_argument(
        "--max-wait-days", type=float, help="an eligible patient waits this long for a slot, then is lost"
    )
    ev.add_argument(
        "--stagger-days", type=float, help="sentinel: first patient of a new dose observed this long"
    )
    ev.add_argument("--window-days", type=float, help="DLT observation window (default 28)")
    ev.add_argument("--dlt-onset", choices=("uniform", "after_infusion", "end"), help="when a DLT shows")
    ev.add_argument(
        "--cohort-decision",
        choices=("earliest", "filled", "complete"),
        help="when the rule is consulted (default earliest: as soon as the outcome is settled)",
    )
    ev.add_argument(
        "--aclf-fraction",
        type=float,
        help="competing risks on: share of ACLF patients (CANONIC mortality; docs/sources.md); default off",
    )
    ev.add_argument(
        "--transplant-share",
        type=float,
        help="share of disease exits that are transplants (needs --aclf-fraction; default 0)",
    )
    ev.add_argument("--halt-probability", type=float, help="probability a DLT triggers a safety review")
    ev.add_argument("--halt-days", type=float, help="length of a safety review")
    ev.add_argument(
        "--max-days",
        type=float,
        help="trial horizon in days (1 to 36525): an undecided trial runs out of time and selects no dose",
    )
    ev.add_argument(
        "--timeline", metavar="FILE", help="write the patient-flow timeline of one trial (PNG, SVG, PDF)"
    )
    sim.add_argument(
        "--engine",
        choices=ENGINES,
        default="exact",
        help="exact enumeration, Monte Carlo, or Monte Carlo over several courses per patient",
    )
    sim.add_argument(
        "--trials", type=_positive_int, default=100_000, help="Monte Carlo trials (default 100000)"
    )
    sim.add_argument("--seed", type=_seed, help="Monte Carlo seed (default: fresh entropy, reported)")
    sim.add_argument("--jobs", type=_positive_int, default=1, help="worker processes for Monte Carlo")
    sim.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def _rules_options(rules: argparse.ArgumentParser) -> None:
    from doseesc.rules import FORMATS

    rules.add_argument("--design", choices=registry.design_names(), required=True, help="the design")
    rules.add_argument(
        "--n-doses", type=_positive_int, help="dose levels (default: as many as --p-tox, or 6)"
    )
    rules.add_argument("--p-tox", type=_probabilities, metavar="P1,P2,...", help="true P(DLT) per dose")
    rules.add_argument("--p-grade2", type=_probabilities, metavar="P1,...", help="P(grade 2) per dose")
    rules.add_argument(
        "--doses", type=_numbers, metavar="D1,D2,...", help="dose values, for designs that use them (blrm)"
    )
    rules.add_argument(
        "--pathways", type=_positive_int, metavar="K", help="list the pathways of the first K cohorts"
    )
    rules.add_argument("--format", choices=FORMATS, default="text", help="output format (default text)")
    _design_options(rules)


def _calibrate_options(cal: argparse.ArgumentParser) -> None:
    cal.add_argument("model", choices=("halpc",), help="the model to calibrate")
    cal.add_argument(
        "--json", action="store_true", help="print one JSON list, one object per prior (and reading)"
    )
    cal.add_argument(
        "--plot", metavar="FILE", help="write the dose-risk curve with its 90%% band (PNG, SVG, PDF)"
    )
    readings = cal.add_mutually_exclusive_group()
    readings.add_argument(
        "--sentinel-dose",
        choices=("per_infusion", "per_patient"),
        default="per_infusion",
        help="the sentinel's ~5e6 cells/kg is the dose of every infusion (default) or each patient's "
        "total over its infusions",
    )
    readings.add_argument(
        "--compare-readings",
        action="store_true",
        help="calibrate under both readings of the sentinel's dose and print them side by side (Markdown)",
    )


def _run_command_options(run: argparse.ArgumentParser) -> None:
    run.add_argument("scenario", help="scenario file (TOML; see docs/scenarios.md)")
    _run_options(run)


def _validate_options(val: argparse.ArgumentParser) -> None:
    val.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="scenario files (TOML)")


def _compare_options(cmp_: argparse.ArgumentParser) -> None:
    cmp_.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="scenario files (TOML)")
    cmp_.add_argument(
        "--engine", choices=ENGINES, help="engine for every scenario (default: each scenario's first)"
    )
    _run_options(cmp_, compare=True)


def _sweep_options(swp: argparse.ArgumentParser) -> None:
    swp.add_argument("sweep", help="sweep file (TOML)")
    swp.add_argument(
        "--jobs", type=_positive_int, default=1, metavar="J", help="worker processes (default 1)"
    )
    swp.add_argument(
        "--out", metavar="DIR", help="output folder, kept for resuming (default results/<sweep name>)"
    )
    swp.add_argument(
        "--dask",
        metavar="local|tcp://HOST:PORT",
        help="run on Dask distributed: a LocalCluster of --jobs workers, or a running scheduler",
    )
    swp.add_argument(
        "--chunk-trials",
        type=_positive_int,
        metavar="N",
        help="simulated trials per engine in a work unit (default: the sweep file's, or 20000); "
        "part of what the sweep seed means",
    )


def _report_options(rep: argparse.ArgumentParser) -> None:
    rep.add_argument("folder", metavar="DIR", help="a doseesc run, compare or sweep results folder")
    rep.add_argument(
        "--format", choices=("html", "md", "tex"), default="html", help="output format (default html)"
    )
    rep.add_argument("--out", metavar="FILE", help="the report file (default DIR/report.html, .md or .tex)")
    rep.add_argument(
        "--target",
        type=_open_probability,
        metavar="P",
        help="target P(DLT) for the true MTD and correct selection (default: the designs' own, if any)",
    )
    rep.add_argument(
        "--target-band",
        type=_probabilities,
        metavar="LO,HI",
        help="acceptable band of P(DLT) around --target: the doses in it count as correct",
    )


def _open_probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number; allowed: a probability in (0, 1)"
        ) from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{text} is outside the allowed range (0, 1)")
    return value


def _report(args: argparse.Namespace) -> int:
    from doseesc.report import build_report

    if args.target_band is not None and (args.target is None or len(args.target_band) != 2):
        raise ValueError("--target-band: allowed: two probabilities LO,HI with LO <= --target <= HI")
    from doseesc.output import add_to_manifest

    if args.out == "":
        raise ValueError("--out: an empty path; allowed: a file name")
    written = build_report(args.folder, args.format, args.out, target=args.target, band=args.target_band)
    add_to_manifest(written)  # a report beside a run's results is doseesc's, replaced with them
    extra = f" (and {len(written) - 1} figure files)" if len(written) > 1 else ""
    print(f"written: {written[0]}{extra}")
    return 0


def _design_options(p: argparse.ArgumentParser) -> None:
    """One option per design parameter of the registry (``--max-n``), and the target; values are
    checked against the chosen design's parameters when it is built."""
    group = p.add_argument_group("design parameters (each design accepts some: see doseesc designs)")
    taken = {o for action in p._actions for o in action.option_strings}
    for param in (*registry.design_params().values(), *registry.TARGET):
        if param.option in taken:  # a registry entry's mistake, not the user's: say which
            raise RuntimeError(f"design parameter {param.name} clashes with the option {param.option}")
        if param.kind == "bool":
            group.add_argument(param.option, action="store_true", default=None, help=param.help)
        else:
            group.add_argument(param.option, metavar=param.name.upper(), help=param.describe())


def _design_spec(args: argparse.Namespace) -> DesignSpec:
    """The design and target the options name (errors name the option and its allowed values)."""
    from doseesc.build import DesignSpec

    values = {}
    for param in (*registry.design_params().values(), *registry.TARGET):
        text = getattr(args, param.name)
        if text is None:
            continue
        try:
            values[param.name] = param.convert(text, text=True)
        except registry.ParamError as exc:
            raise ValueError(f"{param.option}: {exc}") from None
    target, band = values.pop("target", None), values.pop("target_band", None)
    return DesignSpec(args.design, tuple(values.items()), target, band)


def _rules(args: argparse.Namespace) -> int:
    from doseesc.build import make_design
    from doseesc.rules import decision_rows, pathway_rows, pathways, render

    n_doses = args.n_doses or (len(args.p_tox) if args.p_tox else len(args.doses) if args.doses else 6)
    for option, given in (("--p-tox", args.p_tox), ("--doses", args.doses)):
        if given is not None and len(given) != n_doses:
            raise ValueError(f"{option} has {len(given)} values but there are {n_doses} doses")
    design = make_design(_design_spec(args), n_doses, args.doses)
    if args.pathways is None:
        header, rows = decision_rows(design, getattr(design, "max_n", None))
    else:
        paths = pathways(design, args.pathways, args.p_tox, args.p_grade2)
        labels = [str(d + 1) for d in range(n_doses)]
        header, rows = pathway_rows(paths, labels)
    print(render(header, rows, args.format))
    return 0


def _designs(args: argparse.Namespace) -> int:
    print(registry.design_schema())
    return 0


def _run_options(p: argparse.ArgumentParser, *, compare: bool = False) -> None:
    p.add_argument(
        "--trials", type=_positive_int, metavar="N", help="simulated trials for every simulation engine"
    )
    p.add_argument(
        "--seed",
        type=_seed,
        metavar="S",
        help="seed"
        + (" for every scenario (common random numbers)" if compare else "")
        + " (default: the file's)",
    )
    p.add_argument(
        "--jobs", type=_positive_int, default=1, metavar="J", help="worker processes for the simulations"
    )
    default = "results/comparison" if compare else "results/<scenario name>"
    p.add_argument("--out", metavar="DIR", help=f"output folder, replaced whole (default {default})")


def _calibrate(args: argparse.Namespace) -> int:
    from doseesc.files import check_output_file
    from doseesc.models.halpc import PRIORS, calibrate_halpc, format_calibration
    from doseesc.plots import write_figure
    from doseesc.plots.calibration import plot_calibration

    if args.compare_readings:
        from doseesc.models.halpc_readings import compare_readings, format_readings

        if args.plot is not None:
            raise ValueError("--plot: one reading at a time (--sentinel-dose), not with --compare-readings")
        cals = compare_readings()
        print(
            json.dumps([c.to_dict() for c in cals], allow_nan=False) if args.json else format_readings(cals)
        )
        return 0
    if args.plot is not None:
        check_output_file(args.plot)
    cals = [calibrate_halpc(prior, sentinel_dose=args.sentinel_dose) for prior in PRIORS]
    if args.plot is not None:
        write_figure(plot_calibration(cals), Path(args.plot))
    if args.json:
        print(json.dumps([c.to_dict() for c in cals], allow_nan=False))
    else:
        print(format_calibration(cals))
    return 0


# ---------------------------------------------------------------------------------------------
# simulate


def _settings(args: argparse.Namespace) -> tuple[TableSpec | LatentSpec | HalpcSpec, DoseSpec, RegimenSpec]:
    """The toxicity model, doses and regimen the options describe (errors name the option)."""
    from doseesc.build import DoseSpec, HalpcSpec, LatentSpec, RegimenSpec, TableSpec

    if sum(x is not None for x in (args.p_tox, args.latent, args.model)) != 1:
        raise ValueError("give exactly one of --p-tox, --latent or --model")
    regimen = RegimenSpec(args.infusions or 1, 7.0 if args.interval_days is None else args.interval_days)
    if args.model is not None:
        if args.doses is None or args.dose_unit is None:
            raise ValueError(
                "--model halpc-bleeding needs --doses and --dose-unit (e.g. --dose-unit 1e6cells/kg)"
            )
        tox = HalpcSpec(posterior=args.posterior, prior=args.prior, sentinel_dose=args.sentinel_dose)
        return tox, DoseSpec(tuple(args.doses), args.dose_unit), regimen
    if args.latent is not None:
        if len(args.latent) != 6:
            raise ValueError("--latent takes 6 numbers: ALPHA,SD_PATIENT,SD_COURSE,K2,K3,K4")
        alpha, sd_p, sd_c, *k = args.latent
        if args.doses is None and args.levels is None:
            raise ValueError("--latent needs --doses or --levels")
        doses = DoseSpec(values=tuple(args.doses)) if args.doses is not None else DoseSpec(levels=args.levels)
        return LatentSpec(alpha, sd_p, sd_c, tuple(k)), doses, regimen
    g2 = None if args.p_grade2 is None else tuple(args.p_grade2)
    g4 = None if args.p_grade4 is None else tuple(args.p_grade4)
    doses = DoseSpec() if args.doses is None else DoseSpec(values=tuple(args.doses))
    return TableSpec(tuple(args.p_tox), g2, g4), doses, regimen


def _simulate(args: argparse.Namespace) -> int:
    from doseesc.build import (
        CourseSpec,
        check,
        course_options,
        make_conduct,
        make_design,
        make_model,
        run_engine,
    )
    from doseesc.files import check_output_file
    from doseesc.output import format_result

    if args.timeline is not None:
        check_output_file(args.timeline)
    tox, doses, regimen = _settings(args)
    several = args.courses != 1 or args.intrapatient
    # Several courses in calendar time read per-course grades, as the course engine does.
    model = make_model(
        tox, doses, regimen, engine="courses" if args.engine == "events" and several else args.engine
    )
    spec = _design_spec(args)
    design = make_design(spec, model.n_doses, doses.array())
    check(design, model, args.engine, tox)
    if args.engine not in ("courses", "events") and several:
        raise ValueError("--courses and --intrapatient need --engine courses or --engine events")
    # The regimen belongs to the bleeding model as well as to the calendar-time conduct.
    shared = ("infusions", "interval_days") if args.model else ()
    conduct_given = [
        o
        for o in (
            "accrual_per_month",
            *CONDUCT_OPTIONS,
            "infusions",
            "interval_days",
            "aclf_fraction",
            "transplant_share",
            "timeline",
        )
        if getattr(args, o) is not None and o not in shared
    ]
    if args.engine != "events" and conduct_given:
        raise ValueError(f"--{conduct_given[0].replace('_', '-')} needs --engine events")
    if args.posterior and args.model is None:
        raise ValueError("--posterior needs --model halpc-bleeding")
    conduct = make_conduct(_conduct_spec(args), regimen, design) if args.engine == "events" else None
    courses = None
    if args.engine == "courses" or (args.engine == "events" and several):
        courses = course_options(
            CourseSpec(args.courses, args.intrapatient, args.on_dlt, args.low_level), design
        )
    result = run_engine(
        args.engine,
        design,
        model,
        trials=args.trials,
        seed=args.seed,
        jobs=args.jobs,
        conduct=conduct,
        courses=courses,
        target=spec.target_spec(),
    )
    if args.engine == "events" and args.timeline is not None:
        from doseesc.plots import write_figure
        from doseesc.plots.timeline import timeline

        write_figure(timeline(result.log, title=f"{design.name}: one simulated trial"), Path(args.timeline))
    if args.json:
        print(json.dumps(result.to_dict(), allow_nan=False))
    else:
        print(format_result(args.engine, result, model=model))
    return 0


def _conduct_spec(args: argparse.Namespace) -> ConductSpec:
    from doseesc.build import ConductSpec, DiseaseSpec

    if args.accrual_per_month is None:
        raise ValueError("--engine events needs --accrual-per-month")
    settings = tuple(
        (key, getattr(args, o)) for o, key in CONDUCT_OPTIONS.items() if getattr(args, o) is not None
    )
    disease = None
    if args.transplant_share is not None and args.aclf_fraction is None:
        raise ValueError(
            "--transplant-share needs --aclf-fraction: without a disease course no patient dies or has "
            "a transplant"
        )
    if args.aclf_fraction is not None:
        disease = DiseaseSpec(args.aclf_fraction, args.transplant_share or 0.0)
    return ConductSpec(tuple(args.accrual_per_month), settings=settings, disease=disease)


# ---------------------------------------------------------------------------------------------
# run, validate, compare


def _stager(progress, prefix: str, engines: Sequence[str]):
    def stage(i: int, engine: str, trials: int | None):
        return progress.stage(
            f"{prefix}[{i + 1}/{len(engines)}] {engine}", None if engine == "exact" else trials
        )

    return stage


def _run(args: argparse.Namespace) -> int:
    from doseesc.output import check_folder, format_run, staged_folder, write_run
    from doseesc.progress import Progress
    from doseesc.scenario import load, run_scenario

    s = load(args.scenario).with_run(trials=args.trials, seed=args.seed)
    out = Path(args.out) if args.out is not None else Path("results") / s.name
    check_folder(out)
    with staged_folder(out) as tmp, Progress() as progress:
        res = run_scenario(s, jobs=args.jobs, stage=_stager(progress, f"{s.name} ", s.run.engines))
        progress.stage(f"{s.name}: writing tables and figures")
        files = write_run(res, tmp)
        progress.close()
    print(format_run(res))
    print(f"\nwritten to {out}{os.sep}: " + ", ".join(sorted(files)))
    return 0


def _validate(args: argparse.Namespace) -> int:
    from doseesc.scenario import ScenarioError, load, summary

    failed = False
    for path in args.scenarios:
        try:
            print(f"ok: {summary(load(path))}")
        except ScenarioError as exc:
            sys.stderr.write(_error_lines(str(exc)))
            failed = True
    return 2 if failed else 0


def _compare(args: argparse.Namespace) -> int:
    from doseesc.build import SpecError
    from doseesc.output import (
        SELECTION_HEADER,
        check_folder,
        save_figure,
        selection_rows,
        staged_folder,
        write_csv,
        write_json,
    )
    from doseesc.progress import Progress
    from doseesc.report.figures import study_figures
    from doseesc.report.model import read_report
    from doseesc.scenario import ScenarioError, load, run_scenario

    scenarios = [load(p).with_run(trials=args.trials, seed=args.seed) for p in args.scenarios]
    names = [s.name for s in scenarios]
    names = [n if names.count(n) == 1 else f"{n}#{i + 1}" for i, n in enumerate(names)]
    scenarios = [
        replace(s, name=n, run=replace(s.run, engines=(args.engine or s.run.engines[0],)))
        for s, n in zip(scenarios, names, strict=True)
    ]
    out = Path(args.out) if args.out is not None else Path("results") / "comparison"
    check_folder(out)
    results = []
    with staged_folder(out) as tmp, Progress() as progress:
        for k, s in enumerate(scenarios):
            stage = _stager(progress, f"{s.name} ({k + 1}/{len(scenarios)}) ", s.run.engines)
            try:
                results.append(run_scenario(s, jobs=args.jobs, stage=stage, common_random_numbers=True))
            except SpecError as exc:
                raise ScenarioError(s.file, exc.render()) from None
        progress.stage("writing the comparison")
        rows = []
        for res in results:
            engine = res.scenario.run.engines[0]
            rows += [
                [res.scenario.name, res.scenario.design.name, *r]
                for r in selection_rows(engine, res.oc(engine), res.toxicity)
            ]
        write_csv(tmp / "comparison.csv", ("scenario", "design", *SELECTION_HEADER), rows)
        write_json(
            tmp / "comparison.json",
            {"version": __version__, "scenarios": [r.to_dict() for r in results]},
        )
        files = ["comparison.csv", "comparison.json"]
        # The figures are the report's (doseesc report), drawn from the file just written.
        report = read_report(tmp)
        for study in report.studies:
            files += [
                n for fig in study_figures(report, study) for n in save_figure(fig.figure, tmp, fig.stem)
            ]
        progress.close()
    print(_format_comparison(results))
    print(f"\nwritten to {out}{os.sep}: " + ", ".join(sorted(files)))
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from doseesc.progress import Progress
    from doseesc.sweep import dask_runner, format_summary, load_sweep, local_runner, run_sweep

    sweep = load_sweep(args.sweep).with_chunk_trials(args.chunk_trials)
    runner = dask_runner(args.dask, args.jobs) if args.dask else local_runner(args.jobs)
    if args.out == "":
        raise ValueError("--out: an empty path; allowed: a new folder or the folder of this sweep")
    out = Path(args.out) if args.out is not None else Path("results") / sweep.name
    with Progress() as progress:
        outcome = run_sweep(sweep, out, runner=runner, progress=progress)
        progress.close()
    print(format_summary(outcome, sweep))
    done = len(outcome.complete)
    print(
        f"\n{done}/{len(sweep.combinations)} combinations complete ({outcome.units} units, "
        f"{outcome.skipped} already done); written to {out}{os.sep}: " + ", ".join(outcome.files)
    )
    if outcome.failures:
        print(
            f"doseesc: error: {len(outcome.failures)} unit(s) failed (see {out / 'sweep.json'}); "
            "re-run the same command to retry them",
            file=sys.stderr,
        )
        return 1
    return 0


def _variants(d: DesignSpec) -> list[str]:
    """The design parameters a scenario sets (a flag by its name, others as name=value)."""
    return [k if v is True else f"{k}={v}" for k, v in d.params if v is not False and _settable(d.name, k)]


def _settable(design: str, key: str) -> bool:
    param = registry.design(design).param(key)
    return param is not None and param.fixed is None


def _format_comparison(results) -> str:
    from doseesc.plots.oc import DAYS_PER_MONTH
    from doseesc.presentation import ENGINE_WORDS

    rows = [
        (
            "scenario",
            "design",
            "engine",
            "model",
            "P(correct)",
            "P(above MTD)",
            "P(none)",
            "mean n",
            "mean DLT",
            "duration (months)",
        )
    ]
    for res in results:
        engine = res.scenario.run.engines[0]
        oc = res.oc(engine)
        mc = oc.n_trials is not None
        pm = (lambda v, se, k=3: f"{v:.{k}f} ± {se:.{k}f}") if mc else (lambda v, se, k=3: f"{v:.{k}f}")
        duration = "-"
        if engine == "events":
            d = res.results[engine].duration
            month = DAYS_PER_MONTH
            duration = f"{d.mean / month:.1f} ± {d.se / month:.1f} (median {d.median / month:.1f})"
        design = res.scenario.design
        variants = ", ".join(_variants(design) + ([f"target={design.target:g}"] if design.target else []))
        m = oc.metrics or {}
        metric = {
            k: "-" if k not in m else pm(m[k], m.get(f"se_{k}")) for k in ("p_correct", "p_select_above_mtd")
        }
        rows.append(
            (
                res.scenario.name,
                design.name + (f" ({variants})" if variants else ""),
                ENGINE_WORDS.get(engine, engine),
                res.scenario.toxicity.model,
                metric["p_correct"],
                metric["p_select_above_mtd"],
                pm(oc.p_none, oc.se_p_none, 4),
                pm(oc.mean_total_n, oc.se_mean_total_n),
                pm(oc.mean_total_dlt, oc.se_mean_total_dlt),
                duration,
            )
        )
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(w) if c < 4 else cell.rjust(w)
            for c, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    lines.append("")
    lines.append(
        "P(selected as MTD) by dose (dose: probability; mean DLT probability per patient in brackets):"
    )
    for res in results:
        oc = res.oc(res.scenario.run.engines[0])
        unit = f" [{res.toxicity.unit_text}]" if res.toxicity.unit_text else ""
        cells = "  ".join(
            f"{lab}: {p:.3f} ({q:.0%})"
            for lab, p, q in zip(res.toxicity.labels, oc.p_select, oc.p_tox, strict=True)
        )
        lines.append(f"  {res.scenario.name}{unit}: {cells}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(next((a for a in argv if not a.startswith("-")), None))
    args = parser.parse_args(argv)
    commands = {
        "simulate": _simulate,
        "designs": _designs,
        "rules": _rules,
        "calibrate": _calibrate,
        "run": _run,
        "validate": _validate,
        "compare": _compare,
        "sweep": _sweep,
        "report": _report,
    }
    try:
        try:
            with interrupts.handled(), warnings.catch_warnings():
                warnings.simplefilter("always", ScenarioWarning)
                shown = warnings.showwarning

                def show(message, category, *where, **kw) -> None:
                    # A scenario warning is one line on stderr, like an error; others as Python shows them.
                    if issubclass(category, ScenarioWarning):
                        print(f"doseesc: {message}", file=sys.stderr)
                    else:
                        shown(message, category, *where, **kw)

                warnings.showwarning = show
                if hasattr(args, "jobs"):
                    args.jobs = min(args.jobs, os.cpu_count() or 1)  # more workers than cores only wait
                status = commands[args.command](args)
                interrupts.check()  # an interrupt a library swallowed still ends the command as one
                return status
        except Exception:
            # A library may turn the interrupt into an error of its own (matplotlib's compiled
            # transforms raise TypeError when it lands in their argument conversion): still the interrupt.
            interrupts.check()
            raise
    except ValueError as exc:
        render = getattr(exc, "render", None)  # doseesc.build.SpecError: settings named by key
        if render is not None:
            parser.error(render(_option if args.command in ("simulate", "rules") else str))
        parser.error(_conduct_options(str(exc)) if args.command == "simulate" else str(exc))
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        written = interrupts.written()
        kept = (
            "the new results were complete and are written" if written else "earlier results are as they were"
        )
        print(f"doseesc: interrupted ({signal.Signals(signum).name}); {kept}", file=sys.stderr)
        return 128 + signum
    except RecursionError:
        parser.error("the input nests too deeply; allowed: tables and lists nested a few levels")
    except BrokenPipeError:  # stdout closed early (e.g. piped into head): end quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:  # a path the checks above did not name: the system's reason, one line
        where = exc.filename if exc.filename is not None else "a file"
        parser.error(f"{where}: {exc.strerror or exc}")


if __name__ == "__main__":
    raise SystemExit(main())
