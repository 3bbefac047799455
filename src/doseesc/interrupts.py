"""SIGINT (Ctrl-C) and SIGTERM: stop at once, leave earlier results as they were, exit 130 or 143.

While :func:`handled` is active, either signal kills this process's worker processes and raises
:class:`Interrupted` in the main process.  The signal is also recorded, because a library may
swallow the exception (one raised inside a finalizer or a callback is only printed): the code that
commits results calls :func:`check` first, and the command line ends with the signal's status even
if the command itself returned.

A signal that arrives while a module is being imported is not raised there: an exception inside
the initialisation of a compiled extension (matplotlib's ``ft2font``, found by an interrupt test)
leaves it half-made, and the interpreter then aborts at exit with a fatal error instead of the
one-line exit.  The handler records the signal and sends it again every :data:`RETRY_SECONDS`
until it lands outside an import; the code that commits results calls :func:`check` first anyway.

Worker processes die with their parent: a forked child inherits a handler that ends it at once
(``os._exit``: no traceback, no cleanup that could write), and on Linux asks the kernel to kill it
when its parent dies (``PR_SET_PDEATHSIG``), so that workers of a parent killed with SIGKILL do not
run on.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
RETRY_SECONDS = 0.05
"""Delay before a signal that arrived during an import is sent again (module docstring)."""

_state: dict[str, int | None] = {"signal": None, "written": None}
_forks = {"hooked": False}


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; ``signum`` says which (exit status 128 + signum)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def received() -> int | None:
    """The signal received while :func:`handled` was active (the first), or None."""
    return _state["signal"]


def note_written() -> None:
    """Record that this command's results are in place (signals held), so that an interrupt from
    now on is not reported as leaving the earlier results."""
    _state["written"] = 1


def written() -> bool:
    """Whether :func:`note_written` was called while :func:`handled` was active."""
    return bool(_state["written"])


def check() -> None:
    """Raise :class:`Interrupted` if a signal was received, even if its exception was swallowed."""
    signum = _state["signal"]
    if signum is not None:
        raise Interrupted(signum)


def _importing(frame: object) -> bool:
    """Whether ``frame`` (a signal handler's) runs inside the import machinery."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


@contextmanager
def handled() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` in this process after killing its workers
    (outside imports: see the module docstring)."""
    main_pid = os.getpid()
    _state["signal"] = _state["written"] = None
    _hook_forks(main_pid)
    retries: list[threading.Timer] = []

    def handler(signum: int, frame: object) -> None:
        if os.getpid() != main_pid:
            os._exit(128 + signum)  # a worker: the parent reports, and nothing of ours is half-written
        if _state["signal"] is None:
            _state["signal"] = signum
        for child in multiprocessing.active_children():
            child.kill()
        if _importing(frame):
            retry = threading.Timer(RETRY_SECONDS, os.kill, (main_pid, signum))
            retry.daemon = True
            retries.append(retry)
            retry.start()
            return
        raise Interrupted(signum)

    old = {sig: signal.signal(sig, handler) for sig in SIGNALS}
    hook = sys.unraisablehook

    def unraisable(info) -> None:
        # An interrupt raised inside a finalizer cannot propagate; it is recorded, not printed.
        if not isinstance(info.exc_value, KeyboardInterrupt):
            hook(info)

    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        for retry in retries:
            retry.cancel()  # the signal is recorded: the command line ends with its status
        sys.unraisablehook = hook
        for sig, h in old.items():
            signal.signal(sig, h)


def die_with_parent() -> None:
    """In a worker process (a pool's ``initializer``): ask Linux to kill this process when its parent
    dies, and end now if the parent is already gone.  Elsewhere nothing happens."""
    prctl = _prctl()
    if prctl is not None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() == 1:
            os._exit(128 + signal.SIGKILL)


def _prctl():
    """Linux's ``prctl`` from the C library, or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _hook_forks(main_pid: int) -> None:
    """Make every child forked from now on die with this process (Linux; elsewhere the handler
    above still ends workers on SIGINT and SIGTERM)."""
    prctl = None if _forks["hooked"] else _prctl()
    if prctl is None:
        return

    parent = {"pid": main_pid}

    def before() -> None:
        parent["pid"] = os.getpid()

    def in_child() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent["pid"]:  # the parent died before the request was made
            os._exit(128 + signal.SIGKILL)

    os.register_at_fork(before=before, after_in_child=in_child)
    _forks["hooked"] = True


__all__ = ["Interrupted", "check", "die_with_parent", "handled", "note_written", "received", "written"]
