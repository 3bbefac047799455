"""The figures of a report (and of the results folders, which draw the same ones), from a
:class:`~doseesc.report.model.Report`.

Per study: the selection figure (the engines of a run, or the designs of a comparison on one dose
axis, with the target and the true MTD marked), the dose-toxicity curve, the expected number of
each named kind of DLT (severe bleeds) per dose and in total, the distribution of the sample size
(from the exact engine where it ran) and the trial duration in months (calendar-time engine).  Per
sweep: the selection of every combination, and the correct selection against each numeric design
parameter the sweep varies (e.g. the maximum sample size N).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from doseesc.report.model import Arm, Report, Study, design_label
from doseesc.report.tables import sample_size_pmf


@dataclass(frozen=True)
class ReportFigure:
    """A figure to show: file stem, caption, and either a drawn matplotlib figure or an image file
    already written (the patient-flow timeline of a run, drawn from a log the folder does not keep)."""

    stem: str
    caption: str
    figure: Any = None
    path: Path | None = None


def _series(arm: Arm, label: str):
    from doseesc.plots.oc import SelectionSeries, wilson

    p = np.append(np.asarray(arm.result["p_select"], dtype=float), arm.result["p_none"])
    lo = hi = None
    if arm.n_trials:
        lo, hi = wilson(p, arm.n_trials)
    return SelectionSeries(label, p, lo, hi)


def _truth(study: Study):
    from doseesc.plots.oc import Truth

    return Truth(
        p_dlt=study.p_dlt.tolist(),
        target=None if study.target is None else study.target.value,
        true_mtd=study.true_mtd,
    )


SHADES = ("Blues", "Oranges", "Greens", "Reds", "Purples", "Greys")
"""Colour maps of the designs when a design has several arms (say, three sample sizes)."""


def arm_colours(arms: Sequence[Arm]) -> list[Any] | None:
    """One colour per arm: a colour family per design, lighter to darker along its arms, when some
    design has several arms (a sweep over N); None (the figures' palette) otherwise."""
    from matplotlib import colormaps

    names = list(dict.fromkeys(a.design["name"] for a in arms))
    if len(names) == len(arms):
        return None
    out = []
    for a in arms:
        same = [b for b in arms if b.design["name"] == a.design["name"]]
        k, n = same.index(a), len(same)
        shade = 0.7 if n == 1 else 0.45 + 0.45 * k / (n - 1)
        out.append(colormaps[SHADES[names.index(a.design["name"]) % len(SHADES)]](shade))
    return out


def _prefix(report: Report, study: Study) -> str:
    return "" if len(report.studies) == 1 else f"{study.name}-"


def _wrap(text: str, width: int = 95) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def study_figures(report: Report, study: Study) -> list[ReportFigure]:
    """The figures of one study, in the order a report shows them."""
    from doseesc.plots.oc import Arm as PlotArm
    from doseesc.plots.oc import plot_comparison, plot_selection

    prefix = _prefix(report, study)
    stem = _safe(prefix)
    truth = _truth(study)
    target = "" if study.target is None else f"; target P(DLT) {100 * study.target.value:g}%, true MTD shaded"
    out = []
    if report.kind == "run" or len(study.arms) == 1:
        series = [_series(a, a.label) for a in study.arms]
        fig = plot_selection(study.labels, study.dose_axis, series, truth=truth, title=_wrap(study.title))
        caption = (
            f"{study.name}: trials selecting each dose as the MTD, by engine{target}. "
            "Bars of simulated figures show their 95% interval."
        )
        out.append(ReportFigure(f"{stem}selection", caption, fig))
    else:
        arms = [
            PlotArm(
                a.label,
                _series(a, a.label),
                np.asarray(a.result["mean_n"], dtype=float),
                np.asarray(a.result["mean_dlt"], dtype=float),
            )
            for a in study.arms
        ]
        fig = plot_comparison(
            study.labels,
            study.dose_axis,
            arms,
            truth=truth,
            title=_wrap(study.title),
            colours=arm_colours(study.arms),
        )
        caption = (
            f"{study.name}: the designs side by side: trials selecting each dose as the MTD (top) and "
            f"mean patients and DLTs per dose (bottom){target}."
        )
        out.append(ReportFigure(f"{stem}comparison", caption, fig))
    out.append(_dose_toxicity(study, stem))
    out += _event_figures(study, stem)
    sizes = _sample_size(study, stem)
    if sizes is not None:
        out.append(sizes)
    out += _durations(study, stem)
    return out


def _safe(prefix: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in prefix)


def _dose_toxicity(study: Study, stem: str) -> ReportFigure:
    from doseesc.models.band import Band
    from doseesc.plots.oc import plot_dose_toxicity

    tox = study.toxicity
    band = None
    if tox.get("calibration_band"):
        b = tox["calibration_band"]
        band = Band(b["description"], *(np.asarray(b[k], dtype=float) for k in ("median", "lower", "upper")))
    model = study.arms[0].scenario["toxicity"]["model"]
    posterior = study.arms[0].scenario["toxicity"].get("posterior")
    dlt_label = {
        "table": "P(DLT), as given (every patient alike)",
        "latent": "P(DLT) in course 1, averaged over patients",
    }.get(model, "P(DLT), population mean")
    if posterior:
        dlt_label = "P(DLT), population and posterior mean"
    fig = plot_dose_toxicity(
        study.labels,
        study.dose_axis,
        study.p_dlt,
        p_grade2=None if tox.get("p_grade2") is None else np.asarray(tox["p_grade2"], dtype=float),
        events={k: np.asarray(v, dtype=float) for k, v in (tox.get("events") or {}).items()},
        band=band,
        target=None if study.target is None else study.target.value,
        dlt_label=dlt_label,
        ylabel={"table": "probability per patient", "latent": "probability per patient, course 1"}.get(
            model, "probability per patient (whole regimen)"
        ),
        title=_wrap(f"{study.name}: toxicity per patient by dose level (model: {model})"),
    )
    return ReportFigure(
        f"{stem}dose_toxicity", f"{study.name}: the true toxicity per patient by dose level.", fig
    )


def _event_figures(study: Study, stem: str) -> list[ReportFigure]:
    from doseesc.plots.oc import EventBurden, plot_event_burden

    out = []
    for event in study.event_names:
        burdens, with_event = [], []
        for a in study.arms:
            ev = a.events.get(event)
            if ev is None:
                continue
            with_event.append(a)
            mean = np.asarray(ev["mean_per_dose"], dtype=float)
            b = EventBurden(a.label, mean, float(ev["mean_total"]))
            if ev.get("se_per_dose") is not None:
                se = np.asarray(ev["se_per_dose"], dtype=float)
                b = EventBurden(
                    a.label,
                    mean,
                    b.total,
                    np.maximum(mean - 1.96 * se, 0),
                    mean + 1.96 * se,
                    max(b.total - 1.96 * ev["se_total"], 0),
                    b.total + 1.96 * ev["se_total"],
                )
            burdens.append(b)
        fig = plot_event_burden(
            study.labels,
            study.dose_axis,
            event,
            burdens,
            truth=_truth(study),
            title=_wrap(f"{study.name}: expected patients with {event} per trial"),
            colours=arm_colours(with_event),
        )
        caption = f"{study.name}: expected number of patients with {event} per trial, by dose and in total."
        out.append(ReportFigure(f"{stem}{_safe(event.replace(' ', '_'))}", caption, fig))
    return out


def _sample_size(study: Study, stem: str) -> ReportFigure | None:
    from doseesc.plots.oc import SampleSize, plot_sample_size

    exact = [a for a in study.arms if a.engine == "exact"]
    arms = exact or study.arms
    pmfs = [(a, pmf) for a in arms if (pmf := sample_size_pmf(a)) is not None]
    if not pmfs:
        return None
    sizes = [SampleSize(a.label, pmf) for a, pmf in pmfs]
    source = "exact" if exact else "simulated"
    where = "exact engine" if exact else "simulated trials"
    fig = plot_sample_size(
        sizes,
        source=source,
        title=_wrap(f"{study.name}: distribution of the sample size ({where})"),
        colours=arm_colours([a for a, _ in pmfs]),
    )
    caption = f"{study.name}: distribution of the number of patients per trial, from the {where}."
    return ReportFigure(f"{stem}sample_size", caption, fig)


def _durations(study: Study, stem: str) -> list[ReportFigure]:
    from doseesc.plots.oc import plot_duration

    return [
        ReportFigure(
            f"{stem}duration",
            f"{study.name}: trial duration in months ({a.label}).",
            plot_duration(a.durations, title=_wrap(f"{study.name}: trial duration ({a.label})")),
        )
        for a in study.arms
        if a.durations is not None and len(a.durations)
    ]


def sweep_figures(report: Report) -> list[ReportFigure]:
    """The figures of a whole sweep: every combination's selection, and correct selection against
    each numeric design parameter that is an axis."""
    from doseesc.plots.sweep import selection_figure

    by_engine: dict[str, list] = {}
    for s in report.studies:
        for a in s.arms:
            p = np.append(np.asarray(a.result["p_select"], dtype=float), a.result["p_none"])
            se = a.result.get("se_mean_total_n")
            by_engine.setdefault(a.engine_text, []).append(
                (f"{s.name}: {a.label}", p, a.result["mean_total_n"], se)
            )
    fig = selection_figure(
        list(by_engine.items()),
        report.studies[0].labels,
        title=f"Sweep {report.name}: trials selecting each dose as the MTD, and mean patients per trial",
    )
    out = [
        ReportFigure(
            "sweep_selection", "Every combination of the sweep: selection by dose and mean patients.", fig
        )
    ]
    for axis in report.axes:
        fig = correct_by_axis(report, axis)
        if fig is not None:
            key = axis.rsplit(".", 1)[-1]
            out.append(
                ReportFigure(
                    f"sweep_correct_by_{key}",
                    f"Correct selection against {key} (one line per scenario and design; 95% intervals).",
                    fig,
                )
            )
    return out


def correct_by_axis(report: Report, axis: str):
    """Correct selection against a numeric design parameter (``design.KEY`` axis), one line per
    scenario and design; None when the axis is not such a parameter or no study has a target."""
    from doseesc.plots.sweep import MetricLine, metric_by_axis
    from doseesc.report.tables import CORRECT, arm_metrics

    if not axis.startswith("design.") or axis == "design.name":
        return None
    key = axis.split(".", 1)[1]
    points: dict[str, list[tuple[float, float, float | None]]] = {}
    for s in report.studies:
        if s.target is None:
            continue
        for a in s.arms:
            x = a.design.get(key)
            if isinstance(x, bool) or not isinstance(x, int | float):
                continue
            y = arm_metrics(a, s.target, s.p_dlt)[CORRECT] / 100
            se = None if not a.n_trials else float(np.sqrt(y * (1 - y) / a.n_trials))
            rest = {k: v for k, v in a.design.items() if k != key}
            name = f"{s.name}: {design_label(rest)}" + ("" if a.engine == "exact" else f" ({a.engine_text})")
            points.setdefault(name, []).append((float(x), y, se))
    lines = []
    for name, pts in points.items():
        pts.sort()
        se = [p[2] for p in pts]
        lines.append(
            MetricLine(
                name,
                np.array([p[0] for p in pts]),
                np.array([p[1] for p in pts]),
                None if any(v is None for v in se) else np.array(se),
            )
        )
    if not lines or all(len(line.x) < 2 for line in lines):
        return None
    label = "maximum sample size N (patients)" if key == "max_n" else key.replace("_", " ")
    return metric_by_axis(
        lines,
        xlabel=label,
        ylabel="correct selection of the MTD (% of trials)",
        title=f"Sweep {report.name}: correct selection against {label}",
    )


def report_figures(report: Report) -> list[ReportFigure]:
    """Every figure of ``report`` in order: the sweep's first, then each study's, then images the
    folder already holds (a run's timeline)."""
    out = sweep_figures(report) if report.kind == "sweep" else []
    for study in report.studies:
        out += study_figures(report, study)
    for stem, path in report.images.items():
        out.append(
            ReportFigure(stem, "One simulated trial's patient flow (the first simulated trial).", path=path)
        )
    return out


__all__ = ["ReportFigure", "correct_by_axis", "report_figures", "study_figures", "sweep_figures"]
