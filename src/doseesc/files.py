"""Result files: each written whole, from plain data.

Every file doseesc writes goes through :func:`atomic_file`: it is written to a temporary file in the
target's folder, flushed to disk, then renamed over the target, so that a reader (or a run resumed
after a crash) sees the old file or the new one, never half of one.  The temporary file is created
like an ordinary file (mode ``0o666`` less the umask), so results stay readable by whoever could
read files written with ``open``.  Only regular files are replaced: a mistyped path such as
``/dev/null`` must not become a rename over a device.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

import numpy as np


def _check_replaceable(path: Path) -> None:
    """``ValueError`` naming ``path`` if it exists and is not a regular file (a device, a folder, a
    pipe ...), which a rename would destroy or fail on.  A symbolic link counts as what it points at."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path}: exists and is not a regular file; allowed: a new file or a regular file")


@contextmanager
def atomic_file(path: Path, mode: str = "w", *, newline: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` (``mode`` ``"w"``: UTF-8 text, or ``"wb"``); when the
    block ends normally it is synced and renamed to ``path``; on any exception it is removed and
    ``path`` is untouched."""
    path = Path(path)
    _check_replaceable(path)
    tmp, fd = _create_beside(path)
    try:
        text = "b" not in mode
        with os.fdopen(fd, mode, encoding="utf-8" if text else None, newline=newline) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_file`."""
    with atomic_file(path) as f:
        f.write(text)


def _create_beside(path: Path) -> tuple[Path, int]:
    """A new hidden file in ``path``'s folder, opened for writing.  ``os.open`` with mode 0o666 lets
    the umask decide the permissions, as for any file (``tempfile.mkstemp`` would make it private)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(f"{path}: no free name for a temporary file beside it")


def plain(value: Any) -> Any:
    """``value`` as plain Python data: numpy arrays and tuples become lists, numpy scalars Python
    numbers, mapping keys strings (JSON and CSV writers take nothing else).  Non-finite floats stay:
    :func:`doseesc.results.json_ready` turns them into None for JSON."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    return value


__all__ = ["atomic_file", "plain", "write_text"]
