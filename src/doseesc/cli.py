"""The ``doseesc`` command line.

Errors in the arguments end with exit status 2 and one line on stderr naming the option and what it
allows; nothing else is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import NoReturn

import numpy as np

from doseesc import __version__
from doseesc.designs import ThreePlusThree
from doseesc.engines import exact, simulate
from doseesc.results import OperatingCharacteristics

DESIGNS = ("3+3",)
ENGINES = ("exact", "mc")


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
    sim.add_argument(
        "--p-tox",
        type=_probabilities,
        required=True,
        metavar="P1,P2,...",
        help="true DLT probability at each dose, in increasing dose order",
    )
    sim.add_argument(
        "--deescalate",
        action="store_true",
        help="3+3: expand the dose below a too-toxic one to 6 patients, repeating downward",
    )
    sim.add_argument(
        "--expand-top",
        action="store_true",
        help="3+3: expand the top dose with 0/3 DLTs to 6 before selecting it",
    )
    sim.add_argument("--engine", choices=ENGINES, default="exact", help="exact enumeration or Monte Carlo")
    sim.add_argument(
        "--trials", type=_positive_int, default=100_000, help="Monte Carlo trials (default 100000)"
    )
    sim.add_argument("--seed", type=_seed, help="Monte Carlo seed (default: fresh entropy, reported)")
    sim.add_argument("--jobs", type=_positive_int, default=1, help="worker processes for Monte Carlo")
    sim.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return parser


def _format_table(oc: OperatingCharacteristics) -> str:
    mc = oc.n_trials is not None
    opts = ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in oc.options.items())
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
    return "\n".join(lines)


def _simulate(args: argparse.Namespace) -> int:
    design = ThreePlusThree(len(args.p_tox), deescalate=args.deescalate, expand_top=args.expand_top)
    if args.engine == "exact":
        oc = exact(design, np.array(args.p_tox))
    else:
        oc = simulate(design, np.array(args.p_tox), args.trials, args.seed, jobs=args.jobs)
    if args.json:
        print(json.dumps(oc.to_dict(), allow_nan=False))
    else:
        print(_format_table(oc))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return {"simulate": _simulate}[args.command](args)
    except ValueError as exc:
        parser.error(str(exc))
    except KeyboardInterrupt:
        print("doseesc: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
