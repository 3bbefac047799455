"""A report as HTML (one self-contained file that prints well), Markdown or LaTeX.

Tables are pandas Stylers (HTML and LaTeX) or rendered by the Markdown template from the same
rounded cells (:mod:`doseesc.report.tables`); the page around them is a Jinja2 template of
``templates/``.  HTML embeds every figure as a PNG data URI; Markdown and LaTeX refer to figure
files written beside the report (``<report stem>_figures/``: PNG for Markdown, PDF for LaTeX).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from doseesc.report.figures import ReportFigure, report_figures
from doseesc.report.model import Report, Study
from doseesc.report.paragraph import Boundaries, boundaries, paragraph
from doseesc.report.tables import DoseTable, TrialTable, cell_text, chunks, dose_table, trial_table

FORMATS = ("html", "md", "tex")
SUFFIX = {"html": ".html", "md": ".md", "tex": ".tex"}
FIGURE_DPI = 150


def _footnote(study: Study, version: str) -> str:
    exact = [a.label for a in study.arms if not a.n_trials]
    parts = []
    if exact:
        which = "all" if len(exact) == len(study.arms) else ", ".join(exact)
        which = "" if exact == ["exact"] else f" ({which})"
        parts.append(f"exact{which}: every cohort outcome enumerated, no simulation error")
    for a in study.arms:
        if a.n_trials:
            words = None if a.label == a.engine_text else a.engine_text
            details = [w for w in (words, None if a.seed is None else f"seed {a.seed}") if w]
            parts.append(
                f"{a.label}: {a.n_trials:,} simulated trials"
                + (f" ({', '.join(details)})" if details else "")
            )
    target = (
        "no target P(DLT) given: no true MTD, correct selection or selection above it"
        if study.target is None
        else f"target P(DLT) {100 * study.target.value:g}%"
        + (
            f", acceptable {100 * study.target.band[0]:g}-{100 * study.target.band[1]:g}%"
            if study.target.band
            else ""
        )
        + (
            "; true MTD in bold"
            if study.true_mtd is not None
            else "; no acceptable dose: the correct decision is none"
        )
    )
    return "; ".join(parts) + f". {target}. doseesc {version}."


def _styled(cells: list[list[str]], index: Any, columns: Any, escape: str | None, bold: str | None = None):
    """A Styler of formatted cells; the row named ``bold`` (the true MTD) in bold."""
    import pandas as pd

    styler = pd.DataFrame(cells, index=index, columns=columns).style.format(escape=escape)
    styler = styler.format_index(escape=escape, axis=1).format_index(escape=escape, axis=0)
    if bold is not None:
        styler = styler.apply(lambda r: ["font-weight: bold" if r.name == bold else "" for _ in r], axis=1)
        styler = styler.apply_index(
            lambda idx: ["font-weight: bold" if v == bold else "" for v in idx], axis=0
        )
    return styler


def _styled_dose(table: DoseTable, escape: str | None):
    frame = table.frame()
    cells = [[cell_text(v, q) for v, (_, q) in zip(row, table.columns, strict=True)] for row in table.cells]
    bold = None if table.mtd_row is None else table.rows[table.mtd_row]
    return _styled(cells, frame.index, frame.columns, escape, bold)


def _styled_trial(table: TrialTable, escape: str | None):
    frame = table.frame()
    cells = [[cell_text(v, name) for v in row] for name, row in zip(table.rows, table.cells, strict=True)]
    return _styled(cells, frame.index, frame.columns, escape)


def _html_table(styler, caption: str) -> str:
    return styler.set_caption(caption).set_table_attributes('class="oc"').to_html(doctype_html=False)


def _latex_table(styler, caption: str, label: str) -> str:
    """A LaTeX table float; the tabular shrinks to the text width when wider (adjustbox)."""
    n_cols = styler.data.shape[1] + 1
    latex = styler.to_latex(
        caption=caption,
        label=label,
        hrules=True,
        convert_css=True,
        multicol_align="c",
        column_format="l" + "r" * (n_cols - 1),
        position="htbp",
        position_float="centering",
    )
    latex = latex.replace("\\begin{tabular}", "\\begin{adjustbox}{max width=\\linewidth}\n\\begin{tabular}")
    return latex.replace("\\end{tabular}", "\\end{tabular}\n\\end{adjustbox}")


def _figure_png(fig: ReportFigure) -> bytes:
    if fig.path is not None:
        return fig.path.read_bytes()
    buf = io.BytesIO()
    fig.figure.savefig(buf, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    return buf.getvalue()


def _write_figure_files(figures: Sequence[ReportFigure], folder: Path, suffix: str) -> list[str]:
    """Write the figures into ``folder`` (PNG or PDF); names relative to the report's folder."""
    import shutil

    from doseesc.plots import write_figure

    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for fig in figures:
        if fig.path is not None:
            target = folder / fig.path.name
            shutil.copyfile(fig.path, target)
        else:
            target = folder / f"{fig.stem}{suffix}"
            write_figure(fig.figure, target)
        names.append(f"{folder.name}/{target.name}")
    return names


def render(report: Report, fmt: str, out: Path) -> list[Path]:
    """Write ``report`` in format ``fmt`` to ``out`` (and its figure files for Markdown and LaTeX);
    the paths written."""
    from doseesc.files import write_text

    if fmt not in FORMATS:
        raise ValueError(f"--format {fmt}: allowed: {', '.join(FORMATS)}")
    figures = report_figures(report)
    escape = {"html": "html", "tex": "latex", "md": None}[fmt]
    studies = []
    for k, study in enumerate(report.studies, 1):
        tables = []
        for j, arms in enumerate(chunks(study.arms), 1):
            dose_cells, trial_cells = dose_table(study, arms), trial_table(study, arms)
            part = "" if len(study.arms) <= len(arms) else f", part {j}"
            captions = (
                f"Table {k}a{part}. {study.title}: by dose level",
                f"Table {k}b{part}. {study.title}: per trial",
            )
            if fmt == "md":
                dose, trial = _md_dose(dose_cells), _md_trial(trial_cells)
            elif fmt == "html":
                dose = _html_table(_styled_dose(dose_cells, escape), captions[0])
                trial = _html_table(_styled_trial(trial_cells, escape), captions[1])
            else:
                dose = _latex_table(_styled_dose(dose_cells, escape), _tex(captions[0]), f"tab:{k}a{j}")
                trial = _latex_table(_styled_trial(trial_cells, escape), _tex(captions[1]), f"tab:{k}b{j}")
            tables.append({"dose": dose, "trial": trial, "captions": captions})
        studies.append({"study": study, "tables": tables, "footnote": _footnote(study, report.version)})
    rules = _boundary_tables(report)
    written = [out]
    if fmt == "html":
        images = [base64.b64encode(_figure_png(f)).decode("ascii") for f in figures]
    else:
        folder = out.parent / f"{out.stem}_figures"
        images = _write_figure_files(figures, folder, ".png" if fmt == "md" else ".pdf")
        written += [out.parent / name for name in images]
    env = _environment(fmt)
    text = env.get_template(f"report.{fmt}.j2").render(
        report=report,
        studies=studies,
        paragraphs=paragraph(report),
        rules=rules,
        figures=list(zip(figures, images, strict=True)),
        title=_title(report),
    )
    write_text(out, text)
    return written


def _title(report: Report) -> str:
    what = {"run": "Operating characteristics", "compare": "Designs compared", "sweep": "Sweep"}[report.kind]
    return f"{what}: {report.name}"


def _boundary_tables(report: Report) -> list[Boundaries]:
    """One boundary table per design name that has one: of its largest sample size (a smaller N's
    table is its first rows)."""
    largest: dict[str, dict[str, Any]] = {}
    for arm in report.arms:
        name, kept = arm.design["name"], largest.get(arm.design["name"])
        if kept is None or (arm.design.get("max_n") or 0) > (kept.get("max_n") or 0):
            largest[name] = arm.design
    tox = report.studies[0].toxicity
    n_doses, doses = len(tox["dose_labels"]), tox.get("dose_values")
    return [t for d in largest.values() if (t := boundaries(d, n_doses, doses)) is not None]


def _tex(text: str) -> str:
    """``text`` escaped for LaTeX."""
    table = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}"}
    table |= {"~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}
    return "".join(table.get(c, c) for c in text)


def _md(text: str) -> str:
    """``text`` safe in a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("*", "\\*")


def _md_dose(table: DoseTable) -> dict[str, Any]:
    header = ["dose", *(f"{arm}: {q}" if arm else q for arm, q in table.columns)]
    rows = []
    for d, (label, cells) in enumerate(zip(table.rows, table.cells, strict=True)):
        texts = [label, *(cell_text(v, q) for v, (_, q) in zip(cells, table.columns, strict=True))]
        if d == table.mtd_row:
            texts = [f"**{t}**" for t in texts]
        rows.append(texts)
    return {"header": header, "rows": rows}


def _md_trial(table: TrialTable) -> dict[str, Any]:
    header = ["per trial", *table.columns]
    rows = [
        [name, *(cell_text(v, name) for v in cells)]
        for name, cells in zip(table.rows, table.cells, strict=True)
    ]
    return {"header": header, "rows": rows}


def _environment(fmt: str):
    import jinja2

    loader = jinja2.PackageLoader("doseesc.report", "templates")
    if fmt == "tex":
        # LaTeX braces clash with Jinja's: the LaTeX template uses ((( ))) and ((* *)).
        env = jinja2.Environment(
            loader=loader,
            block_start_string="((*",
            block_end_string="*))",
            variable_start_string="(((",
            variable_end_string=")))",
            comment_start_string="((#",
            comment_end_string="#))",
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        env.filters["tex"] = _tex
    else:
        env = jinja2.Environment(
            loader=loader,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default_for_string=False)
            if fmt == "html"
            else False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        env.filters["md"] = _md
    return env


__all__ = ["FORMATS", "SUFFIX", "render"]
