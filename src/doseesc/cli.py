"""The ``doseesc`` command line.

Errors in the arguments end with exit status 2 and one line on stderr naming the option and what it
allows; nothing else is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import numpy as np

from doseesc import __version__
from doseesc.conduct import Conduct, DiseaseCourse
from doseesc.designs import ThreePlusThree
from doseesc.designs.titration import AcceleratedTitration
from doseesc.engines import exact, simulate
from doseesc.engines.courses import CourseOptions, CourseResult, simulate_courses
from doseesc.engines.events import EventsResult, run_events
from doseesc.models import DoseToxicityTable
from doseesc.models.graded import GradedTable, LatentToxicity
from doseesc.plots import write_figure
from doseesc.plots.timeline import timeline
from doseesc.results import OperatingCharacteristics

DESIGNS = ("3+3", "atd1", "atd2", "atd3", "atd4", "nct05727722")
ENGINES = ("exact", "mc", "courses", "events")
# Calendar-time options of --engine events: option name -> Conduct field.
CONDUCT_OPTIONS = {
    "accrual_per_month": "accrual_per_month",
    "accrual": "accrual_process",
    "screening_days": "screening_days",
    "screen_failure": "screen_failure",
    "max_wait_days": "max_wait_days",
    "infusions": "infusions",
    "interval_days": "interval_days",
    "stagger_days": "stagger_days",
    "window_days": "window_days",
    "dlt_onset": "dlt_onset",
    "cohort_decision": "cohort_decision",
    "halt_probability": "halt_probability",
    "halt_days": "halt_days",
}


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: ``doseesc: error: ...``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"doseesc: error: {message}\n")


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
    if not all(np.isfinite(values)):
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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="doseesc", description="Dose-escalation trial simulator.")
    parser.add_argument("--version", action="version", version=f"doseesc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sim = sub.add_parser(
        "simulate",
        help="operating characteristics of a design under a true dose-toxicity curve",
        description="Operating characteristics of a design under a true dose-toxicity curve.",
    )
    sim.add_argument("--design", choices=DESIGNS, required=True, help="the design")
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
    sim.add_argument(
        "--deescalate",
        action="store_true",
        help="3+3 phase: bring the dose below a too-toxic one to 6 patients, repeating downward",
    )
    sim.add_argument(
        "--expand-top",
        action="store_true",
        help="3+3 phase: expand the top dose with 0/3 DLTs to 6 before selecting it",
    )
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
        help="competing risks on: fraction of ACLF patients (CANONIC mortality, DOMAIN.md); default off",
    )
    ev.add_argument(
        "--transplant-share", type=float, default=0.0, help="share of disease exits that are transplants"
    )
    ev.add_argument("--halt-probability", type=float, help="probability a DLT triggers a safety review")
    ev.add_argument("--halt-days", type=float, help="length of a safety review")
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
    cal = sub.add_parser(
        "calibrate",
        help="posterior of a calibrated toxicity model",
        description="Calibrate the HALPC bleeding-risk model to the sentinel findings under two priors.",
    )
    cal.add_argument("model", choices=("halpc",), help="the model to calibrate")
    cal.add_argument("--json", action="store_true", help="print one JSON list, one object per prior")
    cal.add_argument(
        "--plot", metavar="FILE", help="write the dose-risk curve with its 90%% band (PNG, SVG, PDF)"
    )
    return parser


def _calibrate(args: argparse.Namespace) -> int:
    from doseesc.models.halpc import PRIORS, calibrate_halpc, format_calibration
    from doseesc.plots.calibration import plot_calibration

    cals = [calibrate_halpc(prior) for prior in PRIORS]
    if args.plot:
        write_figure(plot_calibration(cals), Path(args.plot))
    if args.json:
        print(json.dumps([c.to_dict() for c in cals], allow_nan=False))
    else:
        print(format_calibration(cals))
    return 0


def _format_table(oc: OperatingCharacteristics) -> str:
    mc = oc.n_trials is not None
    opts = ", ".join(
        f"{k}={('yes' if v else 'no') if isinstance(v, bool) else v}" for k, v in oc.options.items()
    )
    head = f"{oc.design} ({opts}), engine {oc.engine}"
    if mc:
        head += f", {oc.n_trials:,} trials, seed {oc.seed}"
    pm = (lambda v, se: f"{v:.5f} ± {se:.5f}") if mc else (lambda v, se: f"{v:.6f}")
    width = len(pm(0.5, 0.5))
    lines = [head, f"{'dose':>5}  {'P(DLT)':>6}  {'P(select)':>{width}}  {'mean n':>7}  {'mean DLT':>8}"]
    se_sel = oc.se_p_select if mc else [None] * len(oc.p_select)
    for d in range(len(oc.p_select)):
        lines.append(
            f"{d + 1:>5}  {oc.p_tox[d]:6.3f}  {pm(oc.p_select[d], se_sel[d]):>{width}}  "
            f"{oc.mean_n[d]:7.3f}  {oc.mean_dlt[d]:8.3f}"
        )
    lines.append(f"{'none':>5}  {'':6}  {pm(oc.p_none, oc.se_p_none):>{width}}")
    lines.append(f"{'total':>5}  {'':6}  {'':>{width}}  {oc.mean_total_n:7.3f}  {oc.mean_total_dlt:8.3f}")
    for name, ev in oc.events.items():
        se = oc.se_mean_n is not None
        per_dose = ", ".join(
            f"{m:.4f}" + (f" ± {e:.4f}" if se else "")
            for m, e in zip(ev.mean, ev.sd / np.sqrt(oc.n_trials or 1), strict=True)
        )
        total = f"{ev.mean_total:.3f}" + (f" ± {ev.sd_total / np.sqrt(oc.n_trials):.3f}" if se else "")
        lines.append(f"{name} per trial, by dose: {per_dose}; in total: {total}")
    return "\n".join(lines)


def _design(name: str, n_doses: int, deescalate: bool, expand_top: bool):
    if name == "3+3":
        return ThreePlusThree(n_doses, deescalate=deescalate, expand_top=expand_top)
    if name == "nct05727722":  # its MTD rule (<= 1 DLT in >= 6) is both 3+3 options, always on
        return AcceleratedTitration.nct05727722(n_doses)
    return AcceleratedTitration.simon(int(name[-1]), n_doses, deescalate=deescalate, expand_top=expand_top)


def _model(args: argparse.Namespace):
    """The toxicity model the options describe (errors name the option)."""
    if sum(x is not None for x in (args.p_tox, args.latent, args.model)) != 1:
        raise ValueError("give exactly one of --p-tox, --latent or --model")
    if args.model is not None:
        return _halpc_model(args)
    if args.latent is not None:
        if len(args.latent) != 6:
            raise ValueError("--latent takes 6 numbers: ALPHA,SD_PATIENT,SD_COURSE,K2,K3,K4")
        alpha, sd_p, sd_c, *k = args.latent
        kw = {"alpha": alpha, "sigma_patient": sd_p, "sigma_course": sd_c, "thresholds": tuple(k)}
        if args.doses is not None:
            return LatentToxicity(doses=np.array(args.doses), **kw)
        if args.levels is None:
            raise ValueError("--latent needs --doses or --levels")
        return LatentToxicity.ladder(1.0, args.levels, **kw)
    k = len(args.p_tox)
    for option in ("p_grade2", "p_grade4"):
        values = getattr(args, option)
        if values is not None and len(values) != k:
            raise ValueError(f"--{option.replace('_', '-')} has {len(values)} values but --p-tox has {k}")
    p = np.array(args.p_tox)
    if args.p_grade4 is not None and np.any(np.array(args.p_grade4) > p):
        raise ValueError("--p-grade4 must not exceed --p-tox at any dose (grade 4 is part of the DLTs)")
    if args.engine == "courses" or args.p_grade4 is not None:
        g2 = np.zeros(k) if args.p_grade2 is None else np.array(args.p_grade2)
        g4 = np.zeros(k) if args.p_grade4 is None else np.array(args.p_grade4)
        return GradedTable(p_grade2=g2, p_grade3=p - g4, p_grade4=g4)
    return DoseToxicityTable(p, None if args.p_grade2 is None else np.array(args.p_grade2))


def _halpc_model(args: argparse.Namespace):
    from doseesc.models.halpc import halpc_bleeding_model
    from doseesc.models.mechanisms import Regimen
    from doseesc.models.units import DoseLevels

    if args.doses is None or args.dose_unit is None:
        raise ValueError(
            "--model halpc-bleeding needs --doses and --dose-unit (e.g. --dose-unit 1e6cells/kg)"
        )
    doses = DoseLevels.parse(",".join(repr(d) for d in args.doses), args.dose_unit)
    regimen = Regimen(args.infusions or 1, 7.0 if args.interval_days is None else args.interval_days)
    return halpc_bleeding_model(doses, regimen, posterior=args.posterior, prior=args.prior)


def _simulate(args: argparse.Namespace) -> int:
    model = _model(args)
    design = _design(args.design, model.n_doses, args.deescalate, args.expand_top)
    if "g2" in design.outcomes and args.latent is None and args.p_grade2 is None:
        raise ValueError(
            f"--p-grade2 is required: the {design.name} design's trigger counts grade-2 toxicities"
        )
    if args.engine != "courses" and (args.courses != 1 or args.intrapatient):
        raise ValueError("--courses and --intrapatient need --engine courses")
    # The regimen belongs to the bleeding model as well as to the calendar-time conduct.
    shared = ("infusions", "interval_days") if args.model else ()
    conduct_given = [
        o
        for o in (*CONDUCT_OPTIONS, "aclf_fraction", "timeline")
        if getattr(args, o) is not None and o not in shared
    ]
    if args.engine != "events" and conduct_given:
        raise ValueError(f"--{conduct_given[0].replace('_', '-')} needs --engine events")
    if args.posterior and args.model is None:
        raise ValueError("--posterior needs --model halpc-bleeding")
    if args.engine == "exact":
        if not getattr(model, "independent_patients", True):
            raise ValueError(
                "--engine exact: with --posterior the patients of a trial share parameters; use mc"
            )
        grade2 = getattr(model, "mean_grade2_probabilities", None)
        g2 = grade2() if grade2 else getattr(model, "p_grade2", None)
        oc = exact(design, model.mean_probabilities(), g2)
        result: OperatingCharacteristics | CourseResult | EventsResult = oc
    elif args.engine == "mc":
        oc = result = simulate(design, model, args.trials, args.seed, jobs=args.jobs)
    elif args.engine == "events":
        result = run_events(design, model, _conduct(args), args.trials, args.seed, jobs=args.jobs)
        oc = result.oc
        if args.timeline:
            write_figure(
                timeline(result.log, title=f"{design.name}: one simulated trial"), Path(args.timeline)
            )
    else:
        intrapatient = (
            args.design in ("atd2", "atd3", "atd4") if args.intrapatient is None else args.intrapatient
        )
        options = CourseOptions(args.courses, intrapatient, args.on_dlt, args.low_level)
        result = simulate_courses(design, model, args.trials, args.seed, options, jobs=args.jobs)
        oc = result.oc
    if args.json:
        print(json.dumps(result.to_dict(), allow_nan=False))
    else:
        print(_format_table(oc))
        if oc.p_switch is not None:
            switch = ", ".join(f"{d + 1}: {q:.3f}" for d, q in enumerate(oc.p_switch) if q > 0)
            print(f"accelerated phase: {oc.mean_accelerated:.3f} patients; ends at dose {switch}")
        if isinstance(result, CourseResult):
            print(_format_courses(result))
        if isinstance(result, EventsResult):
            print(_format_events(result))
    return 0


def _conduct(args: argparse.Namespace) -> Conduct:
    if args.accrual_per_month is None:
        raise ValueError("--engine events needs --accrual-per-month")
    fields = {field: getattr(args, o) for o, field in CONDUCT_OPTIONS.items() if getattr(args, o) is not None}
    if args.aclf_fraction is not None:
        fields["disease"] = DiseaseCourse(
            aclf_fraction=args.aclf_fraction, transplant_share=args.transplant_share
        )
    return Conduct(**fields)


def _format_events(r: EventsResult) -> str:
    d = r.duration
    counts = ", ".join(f"{name} {c.mean:.2f}" for name, c in r.counts.items())
    return (
        f"duration (days): mean {d.mean:.1f} ± {d.se:.1f}, median {d.median:.1f}, "
        f"quartiles {d.q25:.1f}-{d.q75:.1f}, 90th percentile {d.q90:.1f}\n"
        f"per trial: {counts}\nmean wait from eligibility to first dose: {r.mean_wait_days:.1f} days"
    )


def _format_courses(r: CourseResult) -> str:
    grades = zip(("0-1", "2", "3", "4"), r.worst_grade, r.se_worst_grade, strict=True)
    lines = [
        f"patients: {r.mean_patients:.2f} ± {r.se_mean_patients:.2f}; courses per patient: "
        f"{r.mean_courses_per_patient:.2f} ± {r.se_mean_courses_per_patient:.2f}",
        "worst grade over courses: "
        + ", ".join(f"{g}: {100 * w:.1f}% ± {100 * se:.1f}" for g, w, se in grades),
    ]
    if r.options.low_level:
        lines.append(
            f"patients first treated below dose {r.options.low_level + 1}: "
            f"{r.mean_low_dose:.2f} ± {r.se_mean_low_dose:.2f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return {"simulate": _simulate, "calibrate": _calibrate}[args.command](args)
    except ValueError as exc:
        parser.error(str(exc))
    except KeyboardInterrupt:
        print("doseesc: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
