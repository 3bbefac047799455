"""Figures of a sweep: selection of every combination side by side, and a target metric (correct
selection) against a numeric design parameter such as the maximum sample size.

Object-oriented matplotlib (no pyplot state): each function returns a ``Figure``; write it with
:func:`doseesc.plots.write_figure`.  The sweep (:mod:`doseesc.sweep`) gathers the numbers; this
module only draws them.  Probabilities are shown as percentages throughout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from doseesc.plots.oc import COLOURS

SweepRow = tuple[str, np.ndarray, float, float | None]
"""One combination: its label, P(selected) per dose then of none, mean patients per trial and the
standard error of that mean (None when exact)."""


def selection_figure(
    data: Sequence[tuple[str, Sequence[SweepRow]]], labels: Sequence[str], *, title: str | None = None
) -> Figure:
    """Per engine (``data``: the engine in plain words and its rows), a heat map of the percentage
    of trials selecting each dose (rows: combinations; columns: doses, then none) beside the mean
    patients per trial (with a 95% interval where simulated); ``labels`` name the doses (used when
    there is one per dose column)."""
    n_rows = max(len(rows) for _, rows in data)
    width = max(len(r[1]) for _, rows in data for r in rows)
    longest = max(len(r[0]) for _, rows in data for r in rows)
    fig = Figure(
        figsize=(4.5 + 0.55 * width + 0.055 * longest, 1.3 + (0.32 * n_rows + 1.0) * len(data)),
        layout="constrained",
    )
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(len(data), 2, width_ratios=(max(width, 2), 3))
    for k, (engine, rows) in enumerate(data):
        ax = fig.add_subplot(grid[k, 0])
        m = np.full((len(rows), width), np.nan)
        for i, (_, p, _, _) in enumerate(rows):
            m[i, : len(p) - 1] = p[:-1]
            m[i, -1] = p[-1]
        image = ax.imshow(m, vmin=0, vmax=1, cmap="Blues", aspect="auto")
        if len(rows) <= 40:
            for (i, j), v in np.ndenumerate(m):
                if np.isfinite(v):
                    ax.text(
                        j,
                        i,
                        f"{100 * v:.0f}%",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if v > 0.6 else "black",
                    )
        cols = (
            [*labels[: width - 1], "none"]
            if len(labels) == width - 1
            else [*map(str, range(1, width)), "none"]
        )
        ax.set_xticks(range(width), cols, fontsize=8)
        ax.set_yticks(range(len(rows)), [r[0] for r in rows], fontsize=7)
        ax.set_title(f"{engine}: trials selecting the dose as MTD", fontsize=9, loc="left")
        ax.set_xlabel("dose", fontsize=8)
        bar = fig.colorbar(image, ax=ax, shrink=0.8, format=PercentFormatter(1.0, decimals=0))
        bar.ax.tick_params(labelsize=7)
        bx = fig.add_subplot(grid[k, 1])
        y = np.arange(len(rows))
        means = np.array([r[2] for r in rows])
        se = np.array([np.nan if r[3] is None else r[3] for r in rows], dtype=float)
        bx.barh(y, means, color="0.7", xerr=None if np.all(np.isnan(se)) else 1.96 * np.nan_to_num(se))
        bx.set_yticks(y, [])
        bx.set_ylim(len(rows) - 0.5, -0.5)
        bx.set_title("mean patients per trial", fontsize=9, loc="left")
        bx.tick_params(labelsize=8)
    if title:
        fig.suptitle(title, x=0.01, ha="left", fontsize=10)
    return fig


@dataclass(frozen=True)
class MetricLine:
    """One line of :func:`metric_by_axis`: its name, the axis values, the metric (a probability) at
    each, and the standard errors (None when exact)."""

    name: str
    x: np.ndarray
    y: np.ndarray
    se: np.ndarray | None = None


def metric_by_axis(
    lines: Sequence[MetricLine], *, xlabel: str, ylabel: str, title: str | None = None
) -> Figure:
    """A probability (e.g. of correct selection) against a numeric setting (e.g. the maximum
    sample size), one line per scenario and design, with 95% intervals of simulated values."""
    fig = Figure(figsize=(7.5, 4.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    styles = ("-", "--", ":", "-.")
    for j, line in enumerate(lines):
        colour = COLOURS[j % len(COLOURS)]
        err = None if line.se is None else 1.96 * np.asarray(line.se, dtype=float)
        ax.errorbar(
            line.x,
            line.y,
            yerr=err,
            color=colour,
            ls=styles[(j // len(COLOURS)) % len(styles)],
            marker="o",
            ms=4,
            capsize=3,
            label=line.name,
        )
    xs = sorted({float(v) for line in lines for v in line.x})
    ax.set_xticks(xs, [f"{v:g}" for v in xs])
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(loc="best", fontsize=7.5, frameon=False)
    if title:
        ax.set_title(title, loc="left", fontsize=10)
    return fig


__all__ = ["MetricLine", "metric_by_axis", "selection_figure"]
