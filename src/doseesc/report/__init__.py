"""``doseesc report``: the operating-characteristics section of a protocol from a results folder.

From a ``doseesc run``, ``compare`` or ``sweep`` folder, one document: a draft paragraph for the
statistical section generated from the designs' registry entries and the simulation settings
(:mod:`~doseesc.report.paragraph`), one table per true dose-toxicity scenario in the layout
protocols use (:mod:`~doseesc.report.tables`), and the figures (:mod:`~doseesc.report.figures`).
HTML is one self-contained file that prints on A4; Markdown and LaTeX are for pasting, with their
figures in a folder beside them (:mod:`~doseesc.report.render`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from doseesc.report.model import ReportError


def build_report(
    folder: str | Path,
    fmt: str = "html",
    out: str | Path | None = None,
    *,
    target: float | None = None,
    band: Sequence[float] | None = None,
) -> list[Path]:
    """Write the report of results ``folder`` in ``fmt`` (html, md or tex) to ``out`` (default
    ``folder/report.<fmt>``); ``target`` (with its ``band``) replaces the designs' own target for the
    true MTD and the metrics.  Returns the files written (the report first)."""
    from doseesc.report.model import read_report
    from doseesc.report.render import FORMATS, SUFFIX, render

    if fmt not in FORMATS:
        raise ReportError(f"--format {fmt}: allowed: {', '.join(FORMATS)}")
    report = read_report(folder, target=target, band=band)
    path = Path(out) if out is not None else Path(folder) / f"report{SUFFIX[fmt]}"
    if path.is_dir():
        raise ReportError(f"--out {path}: is a folder; allowed: a file name")
    return render(report, fmt, path)


__all__ = ["ReportError", "build_report"]
