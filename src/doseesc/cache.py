"""A cache on disk for arrays that take long to compute and are fully determined by their inputs
(e.g. a posterior fitted to fixed data under a fixed prior).

An entry is one ``.npz`` file named by the SHA-256 of its key: a JSON-ready description of
everything that determines the arrays, to which the doseesc version is added.  The key is also
stored in the file and compared on every read, so an entry written for other inputs or by another
version, a truncated or otherwise unreadable file, or arrays that fail the caller's check are
recomputed (and rewritten), never trusted.  Writes go to a temporary file in the same folder, renamed
over the entry (``os.replace``, atomic): processes filling the same entry at once each compute it
and the last rename wins, and a reader sees either no file or a whole one.

Where: ``$DOSEESC_CACHE_DIR`` if set, else the user's cache folder (``$XDG_CACHE_HOME/doseesc``,
by default ``~/.cache/doseesc``; ``~/Library/Caches/doseesc`` on macOS; ``%LOCALAPPDATA%\\doseesc``
on Windows).  ``DOSEESC_CACHE=off`` turns the cache off (every value is computed afresh).  A cache
folder that cannot be written is not an error: the value is computed and used, just not kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from doseesc import __version__

CACHE_DIR_ENV = "DOSEESC_CACHE_DIR"
CACHE_SWITCH_ENV = "DOSEESC_CACHE"
_KEY_FIELD = "__key__"


def cache_dir() -> Path | None:
    """The cache folder, or None when the cache is off (``DOSEESC_CACHE=off``)."""
    if os.environ.get(CACHE_SWITCH_ENV, "").strip().lower() in ("off", "0", "no", "false"):
        return None
    explicit = os.environ.get(CACHE_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "doseesc"


def key_text(kind: str, key: Mapping[str, Any]) -> str:
    """The canonical JSON text of an entry's key (``kind``, ``key`` and the doseesc version)."""
    return json.dumps({"kind": kind, "version": __version__, "key": key}, sort_keys=True, allow_nan=True)


def digest(*arrays: np.ndarray) -> str:
    """SHA-256 of arrays' shapes, types and bytes: a short stand-in for large inputs in a key."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def entry_path(kind: str, key: Mapping[str, Any]) -> Path | None:
    """Where the entry for ``key`` lives (None when the cache is off)."""
    folder = cache_dir()
    if folder is None:
        return None
    name = hashlib.sha256(key_text(kind, key).encode()).hexdigest()[:32]
    return folder / f"{kind}-{name}.npz"


def cached_arrays(
    kind: str,
    key: Mapping[str, Any],
    compute: Callable[[], dict[str, np.ndarray]],
    check: Callable[[dict[str, np.ndarray]], bool] = lambda arrays: True,
) -> dict[str, np.ndarray]:
    """The arrays ``compute()`` returns for ``key``, read from the cache when a valid entry is there.

    ``kind`` names what is cached (part of the file name and of the key); ``key`` must be JSON-ready
    and hold everything the arrays depend on (use :func:`digest` for large arrays).  An entry is
    used only if its stored key matches and ``check`` accepts its arrays; otherwise it is computed
    and written afresh.  The arrays returned are read-only.
    """
    path = entry_path(kind, key)
    text = key_text(kind, key)
    if path is not None:
        arrays = _read(path, text)
        if arrays is not None and check(arrays):
            return _frozen(arrays)
    arrays = {name: np.asarray(a) for name, a in compute().items()}
    if path is not None:
        _write(path, text, arrays)
    return _frozen(arrays)


def _read(path: Path, text: str) -> dict[str, np.ndarray] | None:
    """The arrays of a whole entry stored under ``text``, or None (missing, corrupt, other key)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            if _KEY_FIELD not in f.files or str(f[_KEY_FIELD]) != text:
                return None
            return {name: f[name] for name in f.files if name != _KEY_FIELD}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return None


def _write(path: Path, text: str, arrays: dict[str, np.ndarray]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.stem, suffix=".tmp", dir=path.parent)
    except OSError:
        return  # no writable cache folder: the value is used, not kept
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{_KEY_FIELD: np.array(text)}, **arrays)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)


def _frozen(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    for a in arrays.values():
        a.setflags(write=False)
    return arrays
