"""Figures of operating characteristics: selection with the target and the true MTD marked, the
dose-toxicity curve (with the calibration's credible band where the model has one), the designs of
a comparison on one dose axis, the expected number of a named kind of DLT (severe bleeds), the
distribution of the sample size, and trial duration in months.

Object-oriented matplotlib on the Agg canvas (no pyplot state): each function returns a ``Figure``;
write it with :func:`doseesc.plots.write_figure`.  Dose levels are categories on the x axis (levels
may differ in regimen as well as dose), labelled with their values; the axis label carries the unit.
Every probability on a figure is a percentage (axes and labels alike), every count a number.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, PercentFormatter

from doseesc.formatting import percent
from doseesc.models.band import Band
from doseesc.report.tables import quantile

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
MTD_SHADE = "#d9f0d3"
"""Background of the true MTD's column."""
_NONE_GAP = 0.6
"""Extra space on the x axis between the top dose and "none"."""
DAYS_PER_MONTH = 365.25 / 12
"""A month of the figures: the calendar year over 12 (as :data:`doseesc.conduct.DAYS_PER_MONTH`)."""


@dataclass(frozen=True)
class SelectionSeries:
    """Selection probabilities of one engine or design: per dose then "none" (``n + 1`` values),
    with the bounds of their interval (None for exact values)."""

    name: str
    p: np.ndarray
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None


@dataclass(frozen=True)
class Truth:
    """What the figures mark about the scenario: the mean P(DLT) per dose level, the target P(DLT)
    and the index of the true MTD (None when unknown or when no dose is acceptable)."""

    p_dlt: Sequence[float] | None = None
    target: float | None = None
    true_mtd: int | None = None


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _positions(n: int) -> np.ndarray:
    """x positions of ``n`` doses and then "none"."""
    return np.append(np.arange(n, dtype=float), n - 1 + 1 + _NONE_GAP)


def _dose_ticks(labels: Sequence[str], truth: Truth, *, many: bool = False) -> list[str]:
    if truth.p_dlt is None:
        return list(labels)
    sep = "  " if many else "\n"
    return [f"{lab}{sep}{percent(p, small='bounded')}" for lab, p in zip(labels, truth.p_dlt, strict=True)]


def _dose_axis_label(dose_axis: str, truth: Truth, *, where: str = "under") -> str:
    notes = []
    if truth.p_dlt is not None:
        notes.append(f"{where} each dose: its mean P(DLT) per patient")
    if truth.target is not None:
        notes.append(f"target P(DLT) {percent(truth.target, 'g')}")
    return dose_axis + (f"\n({'; '.join(notes)})" if notes else "")


def _mark_mtd(ax, truth: Truth, *, label: bool = True) -> None:
    """Shade the true MTD's column, name it above the bars and set its tick label in bold."""
    if truth.true_mtd is None:
        return
    d = truth.true_mtd
    ax.axvspan(d - 0.46, d + 0.46, color=MTD_SHADE, zorder=0, lw=0)
    if label:
        ax.annotate(
            "true MTD",
            (d, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(0, -3),
            textcoords="offset points",
            ha="center",
            va="top",
            fontsize=8,
            color="#2b7a2b",
            fontweight="bold",
        )
    ticks = ax.get_xticklabels()
    if d < len(ticks):
        ticks[d].set_fontweight("bold")


def _colour(colours: Sequence[Any] | None, j: int) -> Any:
    """The ``j``-th series' colour: the caller's, else the palette's."""
    return colours[j] if colours is not None else COLOURS[j % len(COLOURS)]


def _selection_bars(
    ax, series: Sequence[SelectionSeries], n: int, *, annotate: bool, colours: Sequence[Any] | None = None
) -> None:
    x = _positions(n)
    k = len(series)
    width = 0.8 / k
    for j, s in enumerate(series):
        xs = x + (j - (k - 1) / 2) * width
        ax.bar(xs, s.p, width * 0.92, color=_colour(colours, j), alpha=0.85, label=s.name, zorder=2)
        top = s.p
        if s.lower is not None and s.upper is not None:
            err = np.vstack([np.maximum(s.p - s.lower, 0), np.maximum(s.upper - s.p, 0)])
            ax.errorbar(xs, s.p, yerr=err, fmt="none", ecolor="black", elinewidth=0.9, capsize=2.5, zorder=3)
            top = s.upper
        if annotate:
            for xi, yi, ti in zip(xs, s.p, top, strict=True):
                ax.annotate(
                    percent(yi, small="bounded"),
                    (xi, ti),
                    xytext=(0, 2),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    fontsize=7.5,
                )
    ax.axvline(n - 1 + (1 + _NONE_GAP) / 2, color="#999999", lw=0.8, ls=":")
    ax.set_ylim(0, 1.1)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.grid(axis="y", alpha=0.3, zorder=0)
    ax.set_axisbelow(True)


def _interval_handle(level: float) -> tuple[Line2D, str]:
    return (
        Line2D([], [], color="black", marker="_", ms=8, lw=0.9, ls="-"),
        f"{percent(level, 'g')} interval (Wilson)\nof a simulated estimate",
    )


def plot_selection(
    labels: Sequence[str],
    dose_axis: str,
    series: Sequence[SelectionSeries],
    *,
    truth: Truth = Truth(),
    level: float = 0.95,
    title: str | None = None,
) -> Figure:
    """Percentage of trials selecting each dose level as the MTD, and selecting none: one bar per
    series (an engine, in plain words), with the ``level`` intervals of simulated estimates.  The
    true MTD's column is shaded and named, the target is in the axis label and each dose's mean
    P(DLT) is written under it."""
    n = len(labels)
    many = n > 12
    fig = _figure(min(14.0, max(6.0, 1.0 + 0.55 * (n + 1) * max(len(series), 1.6))), 4.6 + 0.6 * many)
    ax = fig.add_subplot()
    _selection_bars(ax, series, n, annotate=len(series) <= 2 and n <= 10)
    ax.set_xticks(_positions(n), [*_dose_ticks(labels, truth, many=many), "none"])
    _mark_mtd(ax, truth)
    if many:
        ax.tick_params(axis="x", labelrotation=90, labelsize=7.5)
    ax.set_xlabel(_dose_axis_label(dose_axis, truth, where="beside" if many else "under"))
    ax.set_ylabel("trials selecting the dose as MTD")
    handles, names = ax.get_legend_handles_labels()
    if len(series) == 1:
        handles, names = [], []
    if any(s.lower is not None for s in series):
        h, t = _interval_handle(level)
        handles.append(h)
        names.append(t)
    if handles:
        fig.legend(
            handles, names, loc="outside lower center", ncols=min(len(handles), 3), fontsize=8, frameon=False
        )
    if title:
        ax.set_title(title, loc="left", fontsize=10)
    return fig


def plot_dose_toxicity(
    labels: Sequence[str],
    dose_axis: str,
    p_dlt: Sequence[float],
    *,
    p_grade2: Sequence[float] | None = None,
    events: dict[str, Sequence[float]] | None = None,
    band: Band | None = None,
    target: float | None = None,
    dlt_label: str = "P(DLT), population mean",
    ylabel: str = "probability per patient",
    title: str | None = None,
) -> Figure:
    """The scenario's toxicity per dose level: mean DLT probability per patient (over the whole
    regimen), optional grade-2 probability and named kinds of DLT, the calibration's credible band
    (median and interval per level) where the model has one, and the target as a line."""
    n = len(labels)
    fig = _figure(min(14.0, max(6.5, 1.6 + 0.9 * n)), 4.8)
    ax = fig.add_subplot()
    x = np.arange(n)
    if band is not None:
        if n > 1:
            ax.fill_between(x, band.lower, band.upper, color=COLOURS[3], alpha=0.12, lw=0)
        ax.errorbar(
            x + 0.1,
            band.median,
            yerr=np.vstack([band.median - band.lower, band.upper - band.median]),
            fmt="D",
            ms=4,
            color=COLOURS[3],
            ecolor=COLOURS[3],
            elinewidth=1.2,
            capsize=4,
            ls="--" if n > 1 else "none",
            lw=0.9,
            label=band.label,
        )
    ax.plot(x, p_dlt, color=COLOURS[0], marker="o", lw=1.8, label=dlt_label, zorder=3)
    for name, values in (events or {}).items():
        if not np.allclose(values, p_dlt):
            ax.plot(x, values, color=COLOURS[1], marker="s", ms=4, lw=1, label=f"P({name})")
    if p_grade2 is not None:
        ax.plot(x, p_grade2, color=COLOURS[2], marker="^", ms=5, lw=1, ls=":", label="P(grade 2, no worse)")
    if target is not None:
        ax.axhline(target, color="#2b7a2b", lw=1, ls="--", label=f"target P(DLT) {percent(target, 'g')}")
    for xi, p in zip(x, p_dlt, strict=True):
        if n > 12:
            break
        ax.annotate(
            percent(p, small="bounded"),
            (xi, p),
            xytext=(0, 8),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=7.5,
            color=COLOURS[0],
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 0.5},
            zorder=4,
        )
    ax.set_xticks(x, labels)
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(0, 1.08)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    if n > 12:
        ax.tick_params(axis="x", labelrotation=90, labelsize=7.5)
    ax.set_xlabel(dose_axis)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.set_axisbelow(True)
    handles, names = ax.get_legend_handles_labels()
    # Labels wrapped to the figure's width (about 14 characters of 8-point text per inch): the
    # calibration's runs to 150 characters and would widen the figure past its plot.
    width = int(14 * fig.get_figwidth())
    names = [textwrap.fill(name, width) for name in names]
    fig.legend(handles, names, loc="outside lower center", fontsize=8, frameon=False)
    if title:
        ax.set_title(title, loc="left", fontsize=10)
    return fig


def plot_duration(durations: np.ndarray, *, title: str | None = None) -> Figure:
    """Histogram of simulated trial durations in months (from accrual opening to the final decision,
    given in days), with the median, mean and 90th percentile marked."""
    d = np.asarray(durations, dtype=float) / DAYS_PER_MONTH
    fig = _figure(7.0, 4.2)
    ax = fig.add_subplot()
    edges = np.histogram_bin_edges(d, bins="auto")
    if edges.size > 61:
        edges = np.linspace(d.min(), d.max(), 61)
    ax.hist(d, bins=edges, weights=np.full(d.shape, 1 / d.size), color=COLOURS[0], alpha=0.8, zorder=2)
    for value, style, name in (
        (np.median(d), "-", "median"),
        (d.mean(), "--", "mean"),
        (np.quantile(d, 0.9), ":", "90th percentile"),
    ):
        ax.axvline(value, color="black", ls=style, lw=1.2, label=f"{name}: {value:.1f} months")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    ax.set_xlabel("trial duration: accrual opening to final decision (months)")
    ax.set_ylabel(f"simulated trials (of {d.size:,})")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    if title:
        ax.set_title(title, loc="left", fontsize=10)
    return fig


@dataclass(frozen=True)
class Arm:
    """One design (or engine) of a figure that compares several: its name, selection per dose then
    none, and mean patients and DLTs per dose and trial."""

    name: str
    selection: SelectionSeries
    mean_n: np.ndarray
    mean_dlt: np.ndarray


def plot_comparison(
    labels: Sequence[str],
    dose_axis: str,
    arms: Sequence[Arm],
    *,
    truth: Truth = Truth(),
    level: float = 0.95,
    title: str | None = None,
    colours: Sequence[Any] | None = None,
) -> Figure:
    """Designs side by side on one dose axis: trials selecting each dose as MTD (top) and mean
    patients per dose with, darker, the mean DLTs among them (bottom), one colour per design
    (``colours``, one per arm, else the palette's)."""
    n = len(labels)
    k = len(arms)
    fig = _figure(min(16.0, max(7.0, 1.2 + 0.5 * (n + 1) * max(k, 1.6))), 7.6)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1.15, 1))
    series = [SelectionSeries(a.name, a.selection.p, a.selection.lower, a.selection.upper) for a in arms]
    _selection_bars(top, series, n, annotate=k <= 3 and n <= 8, colours=colours)
    _mark_mtd(top, truth)
    top.set_ylabel("trials selecting the dose as MTD")
    handles, names = top.get_legend_handles_labels()
    handles += [Patch(color="0.5", alpha=0.35), Patch(color="0.5", alpha=0.95)]
    names += ["bottom: patients treated at the dose", "bottom: of whom with a DLT"]
    if any(s.lower is not None for s in series):
        h, t = _interval_handle(level)
        handles.append(h)
        names.append(t)
    fig.legend(
        handles, names, loc="outside lower center", ncols=min(len(handles), 3), fontsize=8, frameon=False
    )

    x = np.arange(n, dtype=float)
    width = 0.8 / k
    for j, a in enumerate(arms):
        xs = x + (j - (k - 1) / 2) * width
        colour = _colour(colours, j)
        bottom.bar(xs, a.mean_n, width * 0.92, color=colour, alpha=0.35, zorder=2)
        bottom.bar(xs, a.mean_dlt, width * 0.92, color=colour, alpha=0.95, zorder=3)
    bottom.set_xticks(_positions(n), [*_dose_ticks(labels, truth), "none"])
    _mark_mtd(bottom, truth, label=False)
    bottom.set_ylabel("mean per trial")
    bottom.yaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.grid(axis="y", alpha=0.3, zorder=0)
    bottom.set_axisbelow(True)
    bottom.set_xlabel(_dose_axis_label(dose_axis, truth))
    if title:
        top.set_title(title, loc="left", fontsize=10)
    return fig


@dataclass(frozen=True)
class EventBurden:
    """Expected patients with one named kind of DLT per trial, for one design or engine: per dose
    and in total, with the bounds of their intervals (None when exact)."""

    name: str
    mean: np.ndarray
    total: float
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    total_lower: float | None = None
    total_upper: float | None = None


def plot_event_burden(
    labels: Sequence[str],
    dose_axis: str,
    event: str,
    burdens: Sequence[EventBurden],
    *,
    truth: Truth = Truth(),
    level: float = 0.95,
    title: str | None = None,
    colours: Sequence[Any] | None = None,
) -> Figure:
    """Expected number of patients per trial with the named event (``event``, e.g. severe
    bleeding) at each dose level (left) and in the whole trial (right), one colour per design or
    engine, with the ``level`` interval of a simulated mean."""
    n = len(labels)
    k = len(burdens)
    fig = _figure(min(14.0, max(7.5, 2.5 + 0.5 * n * max(k, 1.6))), 4.6)
    left, right = fig.subplots(1, 2, width_ratios=(max(n, 2), 1.2 + 0.3 * k))
    x = np.arange(n, dtype=float)
    width = 0.8 / k
    intervals = False
    for j, b in enumerate(burdens):
        colour = _colour(colours, j)
        xs = x + (j - (k - 1) / 2) * width
        left.bar(xs, b.mean, width * 0.92, color=colour, alpha=0.85, label=b.name, zorder=2)
        right.bar(j, b.total, 0.7, color=colour, alpha=0.85, zorder=2)
        if b.lower is not None and b.upper is not None:
            intervals = True
            err = np.vstack([np.maximum(b.mean - b.lower, 0), np.maximum(b.upper - b.mean, 0)])
            left.errorbar(xs, b.mean, yerr=err, fmt="none", ecolor="black", elinewidth=0.9, capsize=2.5)
            right.errorbar(
                j,
                b.total,
                yerr=[[max(b.total - b.total_lower, 0)], [max(b.total_upper - b.total, 0)]],
                fmt="none",
                ecolor="black",
                elinewidth=0.9,
                capsize=3,
            )
        right.annotate(
            f"{b.total:.2f}", (j, b.total), xytext=(6, 2), textcoords="offset points", fontsize=8, ha="left"
        )
    left.set_xticks(x, _dose_ticks(labels, truth))
    _mark_mtd(left, truth)
    left.set_xlabel(_dose_axis_label(dose_axis, truth))
    left.set_ylabel(f"expected patients with {event} per trial")
    left.set_title("by dose level", fontsize=9, loc="left")
    # The totals' colours are the designs' of the left panel (named in the legend below).
    right.set_xticks([0] if k == 1 else [], ["all doses"] if k == 1 else [], fontsize=8)
    right.set_title("in the whole trial", fontsize=9, loc="left")
    right.set_xlim(-0.6, k - 0.4 + 0.5)
    for ax in (left, right):
        ax.grid(axis="y", alpha=0.3, zorder=0)
        ax.set_axisbelow(True)
        ax.set_ylim(0, None)
    handles, names = left.get_legend_handles_labels()
    if k == 1:
        handles, names = [], []
    if intervals:
        handles.append(Line2D([], [], color="black", marker="_", ms=8, lw=0.9, ls="-"))
        names.append(f"{percent(level, 'g')} interval of a simulated mean")
    if handles:
        fig.legend(
            handles, names, loc="outside lower center", ncols=min(len(handles), 3), fontsize=8, frameon=False
        )
    if title:
        fig.suptitle(title, x=0.01, ha="left", fontsize=10)
    return fig


@dataclass(frozen=True)
class SampleSize:
    """The distribution of the number of patients in a trial, for one design or engine:
    ``pmf[m]`` = P(N = m)."""

    name: str
    pmf: np.ndarray


def plot_sample_size(
    sizes: Sequence[SampleSize],
    *,
    source: str = "exact",
    title: str | None = None,
    colours: Sequence[Any] | None = None,
) -> Figure:
    """P(N = m): the distribution of the number of patients a trial enrols, with its mean and 90th
    percentile marked, one colour per design or engine; ``source`` says where it comes from
    ("exact": enumerated; else the share of simulated trials)."""
    fig = _figure(7.5, 4.2)
    ax = fig.add_subplot()
    k = len(sizes)
    top = max(int(np.flatnonzero(np.asarray(s.pmf) > 0)[-1]) for s in sizes)
    width = 0.85 / k
    for j, s in enumerate(sizes):
        colour = _colour(colours, j)
        pmf = np.asarray(s.pmf, dtype=float)
        m = np.arange(pmf.size)
        mean = float(m @ pmf)
        q90 = quantile(pmf, 0.9)
        ax.bar(m + (j - (k - 1) / 2) * width, pmf, width * 0.95, color=colour, alpha=0.85, zorder=2)
        prefix = f"{s.name}: " if k > 1 else ""
        ax.axvline(mean, color=colour, ls="--", lw=1.2, label=f"{prefix}mean {mean:.1f}")
        ax.axvline(q90, color=colour, ls=":", lw=1.4, label=f"{prefix}90th percentile {q90}")
    ax.set_xlim(-0.8, top + 0.8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel("patients enrolled in the trial (N)")
    ax.set_ylabel("trials (exact probability)" if source == "exact" else "simulated trials")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    fig.legend(loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    if title:
        ax.set_title(title, loc="left", fontsize=10)
    return fig


def wilson(p: np.ndarray, n: int, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of proportions ``p`` estimated from ``n`` trials."""
    from scipy.special import ndtri

    z = float(ndtri(0.5 + level / 2))
    p = np.asarray(p, dtype=float)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
