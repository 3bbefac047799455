"""Figures (matplotlib, object-oriented API): each function takes data and returns a ``Figure``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from matplotlib.figure import Figure


def write_figure(fig: Figure, path: Path) -> None:
    """Save ``fig`` to ``path`` (format from the suffix) atomically: a temporary file in the same
    folder, then a rename, so an interrupted run never leaves half a file."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as out:
            fig.savefig(out, format=fmt, dpi=150, bbox_inches="tight")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
