"""What is wrong with a scenario file, or doubtful about it, each as one line naming the file and key.

Errors stop the file (:class:`ScenarioError`, one line per mistake, all of them at once); a warning
(:class:`ScenarioWarning`, issued with :func:`warnings.warn`) flags a setting that is accepted as
given but is probably not what was meant, such as a toxicity curve that falls somewhere.
"""

from __future__ import annotations

from collections.abc import Sequence


class ScenarioError(ValueError):
    """A scenario file that cannot be used: one line per mistake, ``FILE: KEY ...: what is allowed``.

    ``messages`` are the lines without the file name, ``message`` the same joined by newlines.
    """

    def __init__(self, file: str, message: str | Sequence[str]) -> None:
        self.file = file
        self.messages = (message,) if isinstance(message, str) else tuple(message)
        self.message = "\n".join(self.messages)
        super().__init__("\n".join(f"{file}: {m}" for m in self.messages))


class ScenarioWarning(UserWarning):
    """A setting accepted as given that is probably a mistake; its text is one line,
    ``FILE: KEY: warning: ...``, ready to print."""

    def __init__(self, file: str, key: str, message: str) -> None:
        self.file = file
        self.key = key
        self.message = message
        super().__init__(f"{file}: {key}: warning: {message}")
