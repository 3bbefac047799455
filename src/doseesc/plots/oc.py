"""Figures of operating characteristics: selection probabilities with intervals, the dose-toxicity
curve (with the calibration's credible band where the model has one), trial duration, and several
scenarios side by side.

Object-oriented matplotlib on the Agg canvas (no pyplot state): each function returns a ``Figure``;
write it with :func:`doseesc.plots.write_figure`.  Dose levels are categories on the x axis (levels
may differ in regimen as well as dose), labelled with their values; the axis label carries the unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter

from doseesc.formatting import percent
from doseesc.models.band import Band

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
_NONE_GAP = 0.6
"""Extra space on the x axis between the top dose and "none"."""


@dataclass(frozen=True)
class SelectionSeries:
    """Selection probabilities of one engine (or scenario): per dose then "none" (``n + 1`` values),
    with the bounds of their interval (None for exact values)."""

    name: str
    p: np.ndarray
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _positions(n: int) -> np.ndarray:
    """x positions of ``n`` doses and then "none"."""
    return np.append(np.arange(n, dtype=float), n - 1 + 1 + _NONE_GAP)


def _selection_axes(ax, labels: Sequence[str], series: Sequence[SelectionSeries], *, annotate: bool) -> None:
    n = len(labels)
    x = _positions(n)
    k = len(series)
    width = 0.8 / k
    for j, s in enumerate(series):
        xs = x + (j - (k - 1) / 2) * width
        colour = COLOURS[j % len(COLOURS)]
        ax.bar(xs, s.p, width * 0.92, color=colour, alpha=0.85, label=s.name, zorder=2)
        top = s.p
        if s.lower is not None and s.upper is not None:
            err = np.vstack([np.maximum(s.p - s.lower, 0), np.maximum(s.upper - s.p, 0)])
            ax.errorbar(xs, s.p, yerr=err, fmt="none", ecolor="black", elinewidth=0.9, capsize=2.5, zorder=3)
            top = s.upper
        if annotate:
            for xi, yi, ti in zip(xs, s.p, top, strict=True):
                ax.annotate(
                    f"{yi:.2f}",
                    (xi, ti),
                    xytext=(0, 2),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    fontsize=7.5,
                )
    ax.axvline(n - 1 + (1 + _NONE_GAP) / 2, color="#999999", lw=0.8, ls=":")
    ax.set_xticks(x, [*labels, "none"])
    ax.set_ylim(0, 1.08)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.grid(axis="y", alpha=0.3, zorder=0)
    ax.set_axisbelow(True)


def plot_selection(
    labels: Sequence[str],
    dose_axis: str,
    series: Sequence[SelectionSeries],
    *,
    p_dlt: Sequence[float] | None = None,
    level: float = 0.95,
    title: str | None = None,
) -> Figure:
    """P(selected as MTD) per dose level and of no selection, one bar per series (engine), with the
    ``level`` intervals of simulated estimates; ``p_dlt`` (mean DLT probability per level) is written
    under each dose."""
    n = len(labels)
    many = n > 12
    fig = _figure(min(14.0, max(6.0, 1.0 + 0.55 * (n + 1) * max(len(series), 1.6))), 4.4 + 0.6 * many)
    ax = fig.add_subplot()
    ticks = list(labels)
    if p_dlt is not None:
        sep = "  " if many else "\n"
        ticks = [f"{lab}{sep}{percent(p, small='bounded')}" for lab, p in zip(labels, p_dlt, strict=True)]
    _selection_axes(ax, ticks, series, annotate=len(series) <= 2 and n <= 10)
    if many:
        ax.tick_params(axis="x", labelrotation=90, labelsize=7.5)
    where = "beside" if many else "under"
    xlabel = dose_axis + (f"\n({where} each dose: its mean P(DLT) per patient)" if p_dlt is not None else "")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("P(selected as MTD)")
    handles, names = ax.get_legend_handles_labels()
    if len(series) == 1:
        handles, names = [], []
    if any(s.lower is not None for s in series):
        handles.append(Line2D([], [], color="black", marker="_", ms=8, lw=0.9, ls="-"))
        names.append(f"{percent(level, 'g')} interval (Wilson)\nof a simulated estimate")
    if handles:
        ax.legend(handles, names, loc="best", fontsize=8, frameon=True, framealpha=0.9, edgecolor="none")
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
    dlt_label: str = "P(DLT), population mean",
    ylabel: str = "probability per patient",
    title: str | None = None,
) -> Figure:
    """The scenario's toxicity per dose level: mean DLT probability per patient (over the whole
    regimen), optional grade-2 probability and named kinds of DLT, and the calibration's credible
    band (median and interval per level) where the model has one."""
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
    fig.legend(loc="outside lower center", fontsize=8, frameon=False)
    if title:
        ax.set_title(title, loc="left", fontsize=10)
    return fig


def plot_duration(durations: np.ndarray, *, title: str | None = None) -> Figure:
    """Histogram of simulated trial durations (days from accrual opening to the final decision),
    with the median, mean and 90th percentile marked."""
    d = np.asarray(durations, dtype=float)
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
        ax.axvline(value, color="black", ls=style, lw=1.2, label=f"{name}: {value:.0f} days")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    ax.set_xlabel("trial duration: accrual opening to final decision (days)")
    ax.set_ylabel(f"share of {d.size:,} simulated trials")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    if title:
        ax.set_title(title, loc="left", fontsize=10)
    return fig


@dataclass(frozen=True)
class ComparisonItem:
    """One scenario's results for :func:`plot_comparison`."""

    name: str
    subtitle: str
    labels: tuple[str, ...]
    dose_axis: str
    selection: SelectionSeries
    mean_n: np.ndarray
    mean_dlt: np.ndarray
    p_dlt: np.ndarray | None = None


def plot_comparison(items: Sequence[ComparisonItem], *, title: str | None = None) -> Figure:
    """Scenarios side by side: P(selected as MTD) with intervals (top) and mean patients and DLTs
    per dose level (bottom), one column per scenario, each with its own dose axis."""
    widths = [len(it.labels) + 1.5 for it in items]
    fig = _figure(max(7.0, sum(0.62 * w + 0.6 for w in widths)), 7.2)
    grid = fig.add_gridspec(2, len(items), width_ratios=widths)
    top0 = bottom0 = None
    headroom = 1.2 * max(float(np.max(it.mean_n)) for it in items)
    for c, it in enumerate(items):
        top = fig.add_subplot(grid[0, c], sharey=top0)
        bottom = fig.add_subplot(grid[1, c], sharey=bottom0)
        top0, bottom0 = top0 or top, bottom0 or bottom
        ticks = list(it.labels)
        if it.p_dlt is not None:
            ticks = [
                f"{lab}\n{percent(p, small='bounded')}" for lab, p in zip(it.labels, it.p_dlt, strict=True)
            ]
        _selection_axes(top, ticks, [it.selection], annotate=len(it.labels) <= 8)
        top.set_title(f"{it.name}\n{it.subtitle}", fontsize=9, loc="left")
        x = np.arange(len(it.labels))
        bottom.bar(x, it.mean_n, 0.7, color=COLOURS[0], alpha=0.45, label="patients", zorder=2)
        bottom.bar(x, it.mean_dlt, 0.7, color=COLOURS[3], alpha=0.85, label="of whom DLT", zorder=3)
        bottom.set_xticks(x, it.labels)
        bottom.set_xlim(-0.6, len(it.labels) - 0.4)
        bottom.set_ylim(0, headroom)
        bottom.set_xlabel(it.dose_axis, fontsize=8.5)
        bottom.grid(axis="y", alpha=0.3, zorder=0)
        bottom.set_axisbelow(True)
        for ax in (top, bottom):
            ax.tick_params(labelsize=8)
        if c == 0:
            top.set_ylabel("P(selected as MTD)")
            bottom.set_ylabel("mean patients per trial")
            bottom.legend(loc="upper left", fontsize=8, frameon=False, ncols=2)
        else:
            top.tick_params(labelleft=False)
            bottom.tick_params(labelleft=False)
    notes = []
    if any(it.p_dlt is not None for it in items):
        notes.append("under each dose (top row): its mean P(DLT) per patient")
    if any(it.selection.lower is not None for it in items):
        notes.append("black bars: 95% interval (Wilson) of a simulated estimate")
    if notes:
        title = (title + "\n" if title else "") + "; ".join(notes)
    if title:
        fig.suptitle(title, fontsize=10, x=0.01, ha="left")
    return fig


def wilson(p: np.ndarray, n: int, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of proportions ``p`` estimated from ``n`` trials."""
    from scipy.special import ndtri

    z = float(ndtri(0.5 + level / 2))
    p = np.asarray(p, dtype=float)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
