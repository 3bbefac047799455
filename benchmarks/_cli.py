"""The command line every single benchmark script shares: --quick, --json FILE (and --memory)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def bench_main(
    doc: str | None,
    measure: Callable[..., dict[str, Any]],
    print_figures: Callable[[dict[str, Any]], None],
    quick_help: str,
    *,
    memory: bool = False,
) -> None:
    """Parse the options, measure, print the figures and write them as JSON when asked."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help=quick_help)
    if memory:
        ap.add_argument(
            "--memory", action="store_true", help="also measure peak memory of 10^7 and 10^8 trials"
        )
    ap.add_argument("--json", type=Path, help="write the figures to this JSON file")
    args = ap.parse_args()
    figures = measure(args.quick, args.memory) if memory else measure(args.quick)
    print_figures(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
