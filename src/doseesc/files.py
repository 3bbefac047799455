"""Result files: each written whole, from plain data.

Every file doseesc writes goes through :func:`atomic_file`: it is written to a temporary file in the
target's folder, flushed to disk, then renamed over the target, so that a reader (or a run resumed
after a crash) sees the old file or the new one, never half of one.  The temporary file is created
like an ordinary file (mode ``0o666`` less the umask), so results stay readable by whoever could
read files written with ``open``.  Only regular files are replaced: a mistyped path such as
``/dev/null`` must not become a rename over a device.

Every operating-system error met while writing (a read-only folder, a parent that is a file, a name
longer than the file system allows, a full disk, ``/proc`` ...) becomes a :class:`FileError`: one
line naming the path the user gave and the system's reason, which the command line prints with
exit status 2.
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


class FileError(ValueError):
    """A path that cannot be written, as one line: the path, then the reason."""


def file_error(path: Path | str, exc: OSError) -> FileError:
    """``exc`` as a :class:`FileError` about ``path`` (the path the user gave, not a temporary one)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return FileError(f"{path}: cannot write: {reason}")


@contextmanager
def writing(path: Path | str) -> Iterator[None]:
    """Turn an ``OSError`` raised in the block into a :class:`FileError` about ``path``."""
    try:
        yield
    except FileError:
        raise
    except OSError as exc:
        raise file_error(path, exc) from None


def check_parent(path: Path) -> None:
    """:class:`FileError` if the nearest existing ancestor of ``path`` is not a folder (a folder
    cannot be made inside a file)."""
    for parent in Path(path).absolute().parents:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise FileError(f"{path}: cannot write: {parent} is not a folder")
            return


def check_output_file(path: Path | str) -> None:
    """:class:`FileError` unless a file can be written at ``path``: a new or regular file in an
    existing folder.  Checked before the work whose result it receives, so a mistyped path costs
    nothing."""
    path = Path(path)
    if str(path) in ("", "."):
        raise FileError(f"{str(path)!r}: not a file name; allowed: a path such as figure.png")
    _check_replaceable(path)
    check_parent(path)
    folder = path.absolute().parent
    if not folder.is_dir():
        raise FileError(f"{path}: cannot write: the folder {folder} does not exist")


def _check_replaceable(path: Path) -> None:
    """:class:`FileError` naming ``path`` if it exists and is not a regular file (a device, a folder, a
    pipe ...), which a rename would destroy or fail on.  A symbolic link counts as what it points at."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        raise file_error(path, exc) from None
    if not stat.S_ISREG(mode):
        raise FileError(f"{path}: exists and is not a regular file; allowed: a new file or a regular file")


@contextmanager
def atomic_file(path: Path, mode: str = "w", *, newline: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` (``mode`` ``"w"``: UTF-8 text, or ``"wb"``); when the
    block ends normally it is synced and renamed to ``path``; on any exception it is removed and
    ``path`` is untouched."""
    path = Path(path)
    _check_replaceable(path)
    check_parent(path)
    with writing(path):
        tmp, fd = _create_beside(path)
    try:
        text = "b" not in mode
        with os.fdopen(fd, mode, encoding="utf-8" if text else None, newline=newline) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise file_error(path, exc) from None
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
        # Cut to fit a file system's 255 bytes when the target's own name nearly does.
        tmp = path.with_name(f".{path.name[:200]}.{secrets.token_hex(4)}.tmp")
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


__all__ = [
    "FileError",
    "atomic_file",
    "check_output_file",
    "check_parent",
    "file_error",
    "plain",
    "write_text",
    "writing",
]
