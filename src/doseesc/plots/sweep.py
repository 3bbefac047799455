"""The figure of a sweep: selection probabilities of every combination side by side.

Object-oriented matplotlib (no pyplot state): the function returns a ``Figure``; write it with
:func:`doseesc.plots.write_figure`.  The sweep (:mod:`doseesc.sweep`) gathers the numbers; this
module only draws them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

SweepRow = tuple[str, np.ndarray, float, float | None]
"""One combination: its label, P(selected) per dose then of none, mean patients per trial and the
standard error of that mean (None when exact)."""


def selection_figure(
    data: Sequence[tuple[str, Sequence[SweepRow]]], labels: Sequence[str], *, title: str | None = None
) -> Figure:
    """Per engine (``data``: engine and its rows), a heat map of P(selected) (rows: combinations;
    columns: doses, then none) beside the mean patients per trial (with a 95% interval where
    simulated); ``labels`` name the doses (used when there is one per dose column)."""
    n_rows = max(len(rows) for _, rows in data)
    width = max(len(r[1]) for _, rows in data for r in rows)
    fig = Figure(figsize=(4.5 + 0.55 * width, 1.2 + (0.32 * n_rows + 0.9) * len(data)), layout="constrained")
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
                        f"{v:.2f}",
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
        ax.set_title(f"{engine}: P(selected as MTD)", fontsize=9)
        ax.set_xlabel("dose", fontsize=8)
        fig.colorbar(image, ax=ax, shrink=0.8)
        bx = fig.add_subplot(grid[k, 1])
        y = np.arange(len(rows))
        means = np.array([r[2] for r in rows])
        se = np.array([np.nan if r[3] is None else r[3] for r in rows], dtype=float)
        bx.barh(y, means, color="0.7", xerr=None if np.all(np.isnan(se)) else 1.96 * np.nan_to_num(se))
        bx.set_yticks(y, [])
        bx.set_ylim(len(rows) - 0.5, -0.5)
        bx.set_title(f"{engine}: mean patients per trial", fontsize=9)
        bx.tick_params(labelsize=8)
    if title:
        fig.suptitle(title)
    return fig


__all__ = ["selection_figure"]
