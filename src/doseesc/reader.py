"""Typed access to parsed TOML that collects every error, with its key path, instead of stopping.

A file with several mistakes should list them all in one go rather than one per attempt.  So the
:class:`Reader` records each error and carries on: a value that is wrong reads as :data:`BAD`, and
the code that needs it calls :meth:`Reader.need`, which abandons that part of the file silently (its
cause is already reported) rather than reporting a cascade of consequences.  An unknown key is
reported with the nearest allowed key ("did you mean"); the key it was probably meant to be then
reads as :data:`BAD` too, so that its absence is not reported a second time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn

from doseesc.registry import nearest


class Failed(Exception):
    """Raised once an error is recorded: abandons the part of the file that needs the failed value."""


class _Bad:
    def __repr__(self) -> str:
        return "BAD"


BAD: Any = _Bad()
"""The value of a key, or the result of a part of the file, whose error is already reported."""


def describe(value: Any) -> str:
    """What a value is, for "got ..." messages: 'an integer (1)', 'a string ("x")', 'a table'."""
    kinds = {bool: "a boolean", str: "a string", int: "an integer", float: "a number", list: "a list"}
    if isinstance(value, dict):
        return "a table"
    kind = kinds.get(type(value), type(value).__name__)
    shown = f'"{value}"' if isinstance(value, str) else str(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return f"{kind} ({shown})"


def fmt(value: Any) -> str:
    """A value as written in TOML (numbers compactly)."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def _plural(what: str | None) -> str:
    """The plural of an allowed value's description: "a probability in [0, 1]" -> "probabilities
    in [0, 1]"; "one of a, b" -> "values among a, b"."""
    what = what or "values"
    if what.startswith("one of "):
        return "values among " + what[len("one of ") :]
    for a in ("a ", "an "):
        if what.startswith(a):
            noun, _, rest = what[len(a) :].partition(" ")
            noun = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
            return f"{noun} {rest}".strip()
    return what


def _position(data: Any, key: str) -> tuple[float, ...]:
    """Where ``key`` (a path such as ``toxicity.p_dlt[2]``) lies in the parsed file, as the index of
    each of its parts in its table or list; parsed TOML keeps the file's order, so sorting errors by
    this lists them in file order.  A part the file lacks (a missing key) sorts last in its table."""
    place: list[float] = []
    node = data
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", key):
        if part.startswith("[") and isinstance(node, list) and int(part[1:-1]) < len(node):
            place.append(int(part[1:-1]))
            node = node[int(part[1:-1])]
        elif isinstance(node, dict) and part in node:
            place.append(list(node).index(part))
            node = node[part]
        else:
            place.append(math.inf)
            break
    return tuple(place)


class Reader:
    """Typed access to parsed TOML whose errors collect in :attr:`errors` as ``(key path, message)``.

    ``aliases`` maps names users are likely to type, though no close spelling of the real one (such
    as a command-line option's name), to the real one, for "did you mean" suggestions.
    """

    def __init__(self, aliases: Mapping[str, str] | None = None) -> None:
        self.errors: list[tuple[str, str]] = []
        self.warnings: list[tuple[str, str]] = []
        self._aliases = dict(aliases or {})
        self._suggested: set[str] = set()

    def report(self, key: str, message: str) -> None:
        self.errors.append((key, message))

    def warn(self, key: str, message: str) -> None:
        self.warnings.append((key, message))

    def fail(self, key: str, message: str) -> NoReturn:
        self.report(key, message)
        raise Failed

    def missing(self, key: str, message: str) -> NoReturn:
        """Report a missing key, unless it was suggested for a misspelt one (already reported)."""
        if key not in self._suggested:
            self.report(key, message)
        raise Failed

    def need(self, *values: Any) -> None:
        """Abandon the current part silently if any of ``values`` is :data:`BAD`."""
        if any(v is BAD for v in values):
            raise Failed

    def part(self, read: Callable[..., Any], *args: Any) -> Any:
        """``read(*args)``, or :data:`BAD` once it fails: the rest of the file is read on."""
        try:
            return read(*args)
        except Failed:
            return BAD

    def in_file_order(self, data: dict) -> list[str]:
        """The errors as ``KEY: message`` lines, in the order of their keys in the file."""
        ordered = sorted(self.errors, key=lambda e: _position(data, e[0]))
        return [f"{key}: {message}" if key else message for key, message in ordered]

    # -- names -------------------------------------------------------------------------------

    def suggest(self, name: str, allowed: Iterable[str]) -> list[str]:
        """The allowed names ``name`` may have been meant to be, nearest first."""
        return nearest(name, allowed, self._aliases)

    def hint(self, name: str, allowed: Iterable[str]) -> str:
        """ "; did you mean X?" for the nearest of ``allowed`` to ``name``, else ";": what goes between
        "unknown ..." and " allowed: ..." in a message."""
        near = self.suggest(name, allowed)
        return f"; did you mean {near[0]}?" if near else ";"

    # -- tables ------------------------------------------------------------------------------

    def table(
        self, data: dict, key: str, allowed: Iterable[str] | None, *, required: bool = False
    ) -> dict | None:
        """The sub-table ``key`` of ``data`` (a path), with only ``allowed`` keys (None: not checked
        here)."""
        value = data.get(key)
        if value is None:
            if required:
                self.missing(key, f"missing; a [{key}] table is required")
            if key in self._suggested:
                raise Failed
            return None
        if not isinstance(value, dict):
            self.fail(key, f"got {describe(value)}; allowed: a table [{key}]")
        if allowed is not None:
            self.known(value, key, allowed)
        return value

    def known(self, table: dict, key: str, allowed: Iterable[str], context: str = "") -> None:
        """Report every key of ``table`` not in ``allowed`` (reading goes on)."""
        allowed = tuple(allowed)
        for k in table:
            if k not in allowed:
                where = f"{key}.{k}" if key else k
                near = self.suggest(k, allowed)
                self._suggested |= {f"{key}.{n}" if key else n for n in near}
                self.report(
                    where, f"unknown key{context}{self.hint(k, allowed)} allowed: {', '.join(allowed)}"
                )

    # -- scalars -----------------------------------------------------------------------------

    def value(
        self,
        table: dict,
        key: str,
        name: str,
        convert: Callable[[Any, str], Any],
        *,
        required: bool = False,
        default: Any = None,
        why: str = "",
    ) -> Any:
        """``table[name]`` converted, ``default`` if absent, :data:`BAD` if wrong (reported)."""
        path = f"{key}.{name}" if key else name
        try:
            if name not in table:
                if required:
                    self.missing(path, f"missing{why}; allowed: {convert.__doc__}")
                return BAD if path in self._suggested else default
            return convert(table[name], path)
        except Failed:
            return BAD

    def string(self, choices: tuple[str, ...] | None = None) -> Callable[[Any, str], str]:

        def convert(v: Any, path: str) -> str:
            if not isinstance(v, str):
                self.fail(path, f"got {describe(v)}; allowed: {convert.__doc__}")
            if choices is not None and v not in choices:
                self.fail(path, f'"{v}" is not allowed{self.hint(v, choices)} allowed: {", ".join(choices)}')
            return v

        convert.__doc__ = "a string" if choices is None else f"one of {', '.join(choices)}"
        return convert

    def boolean(self) -> Callable[[Any, str], bool]:
        def convert(v: Any, path: str) -> bool:
            if not isinstance(v, bool):
                self.fail(path, f"got {describe(v)}; allowed: true or false")
            return v

        convert.__doc__ = "true or false"
        return convert

    def integer(self, low: int = 0, high: int | None = None) -> Callable[[Any, str], int]:
        allowed = f"a whole number >= {low}" if high is None else f"a whole number from {low} to {high}"

        def convert(v: Any, path: str) -> int:
            if isinstance(v, bool) or not isinstance(v, int):
                self.fail(path, f"got {describe(v)}; allowed: {allowed}")
            if v < low or (high is not None and v > high):
                self.fail(path, f"{v} is out of range; allowed: {allowed}")
            return v

        convert.__doc__ = allowed
        return convert

    def number(
        self,
        low: float = -math.inf,
        high: float = math.inf,
        *,
        open_low: bool = False,
        open_high: bool = False,
        finite: bool = True,
        what: str | None = None,
    ) -> Callable[[Any, str], float]:
        if what is None:
            left, right = "(" if open_low else "[", ")" if open_high or math.isinf(high) else "]"
            if math.isinf(low) and math.isinf(high):
                what = "a number"
            elif math.isinf(high):
                what = f"a number {'>' if open_low else '>='} {low:g}"
            else:
                what = f"a number in {left}{low:g}, {high:g}{right}"

        def convert(v: Any, path: str) -> float:
            if isinstance(v, bool) or not isinstance(v, int | float):
                self.fail(path, f"got {describe(v)}; allowed: {what}")
            x = float(v)
            ok = (low < x if open_low else low <= x) and (x < high if open_high else x <= high)
            if not ok or (finite and not math.isfinite(x)) or math.isnan(x):
                self.fail(path, f"{fmt(x)} is out of range; allowed: {what}")
            return x

        convert.__doc__ = what
        return convert

    def probability(self, *, open_ends: bool = False) -> Callable[[Any, str], float]:
        if open_ends:
            return self.number(0.0, 1.0, open_low=True, open_high=True, what="a probability in (0, 1)")
        return self.number(0.0, 1.0, what="a probability in [0, 1]")

    def array(
        self,
        item: Callable[[Any, str], Any],
        *,
        length: int | None = None,
        example: str = "",
    ) -> Callable[[Any, str], tuple]:
        """A non-empty list (of ``length`` items if given); every wrong item is reported."""
        size = "a list" if length is None else f"a list of {length}"
        allowed = f"{size} of {_plural(item.__doc__)}" + (f", e.g. {example}" if example else "")

        def convert(v: Any, path: str) -> tuple:
            if not isinstance(v, list):
                self.fail(path, f"got {describe(v)}; allowed: {allowed}")
            if not v:
                self.fail(path, f"is empty; allowed: {allowed}")
            if length is not None and len(v) != length:
                self.fail(path, f"has {len(v)} values; allowed: {allowed}")
            items = tuple(self.part(item, x, f"{path}[{i}]") for i, x in enumerate(v))
            self.need(*items)
            return items

        convert.__doc__ = allowed
        return convert

    def one_or_array(self, item: Callable[[Any, str], Any], example: str) -> Callable[[Any, str], Any]:
        allowed = f"{item.__doc__}, or a list of them, e.g. {example}"

        def convert(v: Any, path: str) -> Any:
            if isinstance(v, list):
                return self.array(item)(v, path)
            if isinstance(v, dict | str | bool) or not isinstance(v, int | float):
                self.fail(path, f"got {describe(v)}; allowed: {allowed}")
            return item(v, path)

        convert.__doc__ = allowed
        return convert
