"""Patient-flow timeline of one simulated trial, drawn from the events engine's log.

One lane per patient, numbered from 1 in order of arrival: screening, waiting for a slot, the DLT
window (coloured by dose level, hatched when the patient left it without a DLT and was replaced),
infusions, and what ended each lane (DLT, death, transplant, screen failure, lost while waiting).
Vertical lines mark the design's decisions, each labelled with every patient decided at that dose so
far and their DLTs ("2.5: 2/6 DLT"), as the 3+3 rule counts them; shaded spans are safety reviews.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from matplotlib import colormaps
from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from doseesc.engines.events_result import LogRecord

_SCREENING = "#c8c8c8"
_WAITING = "#f0a030"
_END = "#c0392b"
# Markers of what ends a lane: (marker, face colour, size, label).
_MARKS = {
    "dlt": ("*", "#d62728", 13, "DLT"),
    "death": ("X", "black", 9, "death"),
    "transplant": ("D", "#7b3294", 7, "transplant"),
    "screen_failure": ("x", "#707070", 7, "screen failure"),
    "lost": ("x", _WAITING, 8, "lost while waiting"),
}


_DECISION = re.compile(r"^(\d+)/(\d+) DLT(.*)$")
"""The events engine's note of a decision: DLTs and patients of the cohort just decided, then any
remark (closed slots)."""


@dataclass
class _Lane:
    arrival: float = 0.0
    screened: float | None = None
    eligible: float | None = None
    dosed: float | None = None
    dose: int = -1
    infusions: list[float] = field(default_factory=list)
    ended: float | None = None
    replaced: bool = False
    marks: list[tuple[str, float]] = field(default_factory=list)


def _lanes(log: Sequence[LogRecord]) -> dict[int, _Lane]:
    lanes: dict[int, _Lane] = {}
    for r in log:
        if r.patient < 0:
            continue
        lane = lanes.setdefault(r.patient, _Lane())
        if r.kind == "arrival":
            lane.arrival = r.time
        elif r.kind == "eligible":
            lane.screened = lane.eligible = r.time
        elif r.kind == "infusion":
            if lane.dosed is None:
                lane.dosed, lane.dose = r.time, r.dose
            lane.infusions.append(r.time)
        elif r.kind in ("window_complete", "dlt", "death", "transplant"):
            lane.ended = r.time
        elif r.kind == "replaced":
            lane.replaced = True
        if r.kind == "screen_failure":
            lane.screened = r.time
        if r.kind in _MARKS:
            lane.marks.append((r.kind, r.time))
    return lanes


def timeline(
    log: Sequence[LogRecord],
    *,
    dose_labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """The patient-flow figure of one trial's event log (``EventsResult.log``); times in days.

    ``dose_labels`` names every dose level of the design (legend; colours span them all); by default
    "dose 1", "dose 2", ... up to the highest level the trial reached.
    """
    end = next((r for r in log if r.kind == "end"), None)
    if end is None:
        raise ValueError("the log has no 'end' record: pass the complete log of one simulated trial")
    lanes = _lanes(log)
    n_doses = 1 + max([r.dose for r in log if r.kind in ("cohort", "infusion")], default=0)
    if dose_labels is None:
        dose_labels = [f"dose {d + 1}" for d in range(n_doses)]
    elif len(dose_labels) < n_doses:
        raise ValueError(f"dose_labels has {len(dose_labels)} names but the log reaches dose {n_doses}")
    t_max = max(r.time for r in log)

    fig = Figure(figsize=(11, 3.4 + 0.24 * len(lanes)), layout="constrained")
    ax = fig.add_subplot()
    # Colours span all named levels, so figures of trials that stopped at different doses agree.
    colours = [_dose_colour(colormaps["viridis"], d, len(dose_labels)) for d in range(n_doses)]

    for y, lane in lanes.items():
        screened = lane.screened if lane.screened is not None else end.time
        ax.barh(y, screened - lane.arrival, left=lane.arrival, height=0.3, color=_SCREENING, lw=0)
        if lane.eligible is not None:
            waited_to = lane.dosed
            if waited_to is None:
                lost = [t for kind, t in lane.marks if kind == "lost"]
                waited_to = lost[0] if lost else end.time
            ax.barh(y, waited_to - lane.eligible, left=lane.eligible, height=0.3, color=_WAITING, lw=0)
        if lane.dosed is not None:
            ax.barh(
                y,
                lane.ended - lane.dosed,
                left=lane.dosed,
                height=0.7,
                color=colours[lane.dose],
                edgecolor="white" if lane.replaced else colours[lane.dose],
                hatch="////" if lane.replaced else None,
                lw=0,
            )
            ax.plot(lane.infusions, [y - 0.45] * len(lane.infusions), "v", color="black", ms=4, ls="none")
        for kind, t in lane.marks:
            marker, colour, size, _ = _MARKS[kind]
            ax.plot(t, y, marker, color=colour, ms=size, mec="white" if kind == "dlt" else colour, mew=0.5)

    halted = None
    for r in log:
        if r.kind == "halt" and halted is None:
            halted = r.time
        elif r.kind == "resume":
            ax.axvspan(halted, r.time, color=_END, alpha=0.08, lw=0)
            halted = None
    if halted is not None:  # the trial ended during a review
        ax.axvspan(halted, t_max * 1.02 + 1, color=_END, alpha=0.08, lw=0)
    decisions = [r for r in log if r.kind == "decision"]
    for r in decisions:
        ax.axvline(r.time, color="#555555", lw=0.8, ls=":")
    ax.axvline(end.time, color=_END, lw=1.5, ls="--")

    # Decisions are named on a top axis, so that labels of close decisions do not cover the lanes.
    top = ax.secondary_xaxis("top")
    top.set_xticks([r.time for r in decisions], _decision_labels(decisions, dose_labels))
    top.tick_params(axis="x", labelrotation=90, labelsize=8, length=3)
    selected = "no dose selected" if end.note == "none" else f"selected: {dose_labels[end.dose]}"
    # The label goes on the side of the end line with more room (the end is often near the right).
    right = end.time < 0.6 * t_max
    ax.annotate(
        f"end, day {end.time:.0f}\n{selected}",
        (end.time, 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(4 if right else -4, -4),
        textcoords="offset points",
        ha="left" if right else "right",
        va="top",
        fontsize=8,
        color=_END,
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
    )

    ax.set_xlim(0, t_max * 1.02 + 1)
    ax.set_ylim(len(lanes) - 0.4 if lanes else 1, -0.6)
    ax.set_xlabel("days since accrual opened")
    ax.set_ylabel("patient (order of arrival)")
    # Lanes sit at 0, 1, ...; they are labelled as patients 1, 5, 10, ... (every 10th for long trials).
    step = 5 if len(lanes) <= 60 else 10
    ax.set_yticks([0, *range(step - 1, len(lanes), step)])
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y + 1:.0f}"))
    ax.grid(axis="x", color="#eeeeee")
    ax.set_axisbelow(True)
    if title:
        ax.set_title(title, loc="left")

    handles = [
        Patch(color=_SCREENING, label="screening"),
        Patch(color=_WAITING, label="waiting for a slot"),
        *[Patch(color=colours[d], label=f"DLT window, {dose_labels[d]}") for d in range(n_doses)],
        Patch(facecolor="#999999", edgecolor="white", hatch="////", label="left window: replaced"),
        Line2D([], [], marker="v", color="black", ls="none", ms=5, label="infusion"),
        *[
            Line2D([], [], marker=m, color=c, ls="none", ms=s * 0.8, label=lab)
            for m, c, s, lab in _MARKS.values()
        ],
        Line2D([], [], color="#555555", ls=":", label="design decision"),
        Line2D([], [], color=_END, ls="--", label="final decision"),
        Patch(color=_END, alpha=0.15, label="safety review"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=5, fontsize=8, frameon=False)
    return fig


def _decision_labels(decisions: Sequence[LogRecord], dose_labels: Sequence[str]) -> list[str]:
    """Each decision's label with the running totals at its dose: a dose that had 1/3 and then 1/3
    reads "1/3 DLT" and then "2/6 DLT", the counts the rule decided on."""
    treated: dict[int, int] = {}
    dlts: dict[int, int] = {}
    labels = []
    for r in decisions:
        match = _DECISION.match(r.note)
        if match is None:
            labels.append(f"{dose_labels[r.dose]}: {r.note}")
            continue
        dlts[r.dose] = dlts.get(r.dose, 0) + int(match[1])
        treated[r.dose] = treated.get(r.dose, 0) + int(match[2])
        labels.append(f"{dose_labels[r.dose]}: {dlts[r.dose]}/{treated[r.dose]} DLT{match[3]}")
    return labels


def _dose_colour(cmap: Colormap, d: int, n_doses: int) -> tuple[float, ...]:
    """Low doses light, high doses dark (the colour map's dark end), never the lightest yellow."""
    return cmap(0.85 - 0.75 * d / max(n_doses - 1, 1))
