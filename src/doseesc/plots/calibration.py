"""Dose-risk curve of the calibrated HALPC bleeding model, with its credible band.

Object-oriented matplotlib on the Agg canvas (no pyplot state): the function returns a ``Figure``;
write it with :func:`doseesc.plots.write_figure`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from doseesc.formatting import percent
from doseesc.models.halpc import HalpcCalibration

COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red")


def plot_calibration(
    calibrations: Sequence[HalpcCalibration],
    *,
    dose_range: tuple[float, float] = (0.1e6, 10e6),
    points: int = 81,
) -> Figure:
    """Per-infusion probability of severe bleeding against dose (cells/kg, log axis), one colour per
    calibration (prior): the population-averaged posterior median with its credible band, and the
    typical patient's median (dashed).  The calibration data are marked: the proportion of patients
    who bled at each dose over their whole regimen (sentinel 2 of 2 at 5e6 cells/kg; none at the
    amended doses), with the number of patients."""
    if not calibrations:
        raise ValueError("calibrations: nothing to plot")
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    grid = np.geomspace(*dose_range, points)
    x = grid / 1e6
    for cal, colour in zip(calibrations, COLOURS, strict=False):
        typical, population = cal.risk(grid)
        pct = percent(cal.level, "g")
        ax.fill_between(x, population.lower, population.upper, color=colour, alpha=0.18, linewidth=0)
        ax.plot(x, population.median, color=colour, label=f"{cal.prior.name}: population median, {pct} band")
        ax.plot(
            x, typical.median, color=colour, linestyle="--", label=f"{cal.prior.name}: typical patient median"
        )

    records = calibrations[0].records
    for dose in sorted({r.dose for r in records}):
        at = [r for r in records if r.dose == dose]
        n = sum(r.patients for r in at)
        bled = sum(r.patients for r in at if r.bled_at is not None)
        ax.plot(dose / 1e6, bled / n, marker="o", color="black", linestyle="none")
        below = bled / n > 0.9
        ax.annotate(
            f"{bled}/{n}", (dose / 1e6, bled / n), textcoords="offset points", xytext=(6, -12 if below else 4)
        )
    ax.plot(
        [], [], marker="o", color="black", linestyle="none", label="observed: patients who bled / treated"
    )

    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(0, 1)
    ax.set_xlabel(r"HALPC dose per infusion ($10^6$ cells/kg body weight)")
    ax.set_ylabel("P(severe bleeding) per infusion")
    ax.set_title("HALPC severe-bleeding risk calibrated to the phase II sentinel findings")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    return fig
