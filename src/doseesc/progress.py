"""A one-line progress bar on stderr, drawn only on a terminal and only for runs that last.

Stages are the engines of a run (or scenario and engine in ``doseesc compare``).  A stage whose
engine reports the trials done (the events engine) shows a filling bar with a count; the others a
moving block and the elapsed time.  Nothing is drawn before ``delay`` seconds, so quick runs stay
silent, and nothing at all when the stream is not a terminal (pipes, files, tests).
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

BAR = 24


class Progress:
    """Use as a context manager; :meth:`stage` starts a stage and returns its update callback."""

    def __init__(
        self, stream: TextIO | None = None, *, enabled: bool | None = None, delay: float = 1.0
    ) -> None:
        self.stream = stream or sys.stderr
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.enabled = isatty() if enabled is None else enabled
        self.delay = delay
        self._label = ""
        self._done = 0
        self._total: int | None = None
        self._start = self._stage_start = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._drawn = False

    def __enter__(self) -> Progress:
        if self.enabled:
            self._thread = threading.Thread(target=self._run, name="doseesc-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._drawn = False

    def stage(self, label: str, total: int | None = None) -> Callable[[int], None]:
        self._label, self._total, self._done = label, total, 0
        self._stage_start = time.monotonic()
        return self.update

    def update(self, done: int) -> None:
        self._done = done

    def _run(self) -> None:
        if self._stop.wait(self.delay):
            return
        while not self._stop.is_set():
            self._draw()
            self._stop.wait(0.2)

    def line(self) -> str:
        """The text of the bar as it stands."""
        elapsed = time.monotonic() - self._start
        total = self._total
        if total:
            frac = min(self._done / total, 1.0)
            filled = round(BAR * frac)
            bar = "#" * filled + "-" * (BAR - filled)
            return (
                f"{self._label} [{bar}] {100 * frac:3.0f}%  {self._done:,}/{total:,} trials  {elapsed:.0f} s"
            )
        span = BAR - 4
        pos = int((time.monotonic() - self._stage_start) * 10) % (2 * span)
        pos = pos if pos < span else 2 * span - pos
        bar = " " * pos + "####" + " " * (span - pos)
        return f"{self._label} [{bar}]  {elapsed:.1f} s"

    def _draw(self) -> None:
        width = shutil.get_terminal_size((80, 24)).columns
        try:
            self.stream.write("\r" + self.line()[: max(width - 1, 10)] + "\033[K")
            self.stream.flush()
            self._drawn = True
        except (OSError, ValueError):  # the terminal went away
            self._stop.set()
