"""Figures (matplotlib, object-oriented API): each function takes data and returns a ``Figure``."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from doseesc.files import atomic_file


def write_figure(fig: Figure, path: Path) -> None:
    """Save ``fig`` to ``path`` (format from the suffix) atomically
    (:func:`doseesc.files.atomic_file`), so an interrupted run never leaves half a file."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    with atomic_file(path, "wb") as out:
        fig.savefig(out, format=fmt, dpi=150, bbox_inches="tight")
