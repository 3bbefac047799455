"""Doses with units: cells per kg of body weight, absolute cells, mg per m^2 of body surface area.

A dose list carries one unit; mixing units is an error that names the offending field.  Values are
stored in the base unit (``cells/kg``, ``cells`` or ``mg/m^2``); a display scale (e.g. 1e6 for
``1e6cells/kg``) is kept for printing only.  The one conversion a model may need, between absolute
cells and cells/kg, goes through each patient's body weight (kg).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

UNITS = ("cells/kg", "cells", "mg/m^2")
"""The allowed dose units (base units; a scale such as 1e6 may prefix them when parsing)."""

_ALIASES = {
    "cells/kg": "cells/kg",
    "cells/kgbw": "cells/kg",
    "cells": "cells",
    "mg/m^2": "mg/m^2",
    "mg/m2": "mg/m^2",
}
_SCALED = re.compile(
    r"^(?:(?P<scale>(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?|10\^[+-]?\d+)\s*\*?\s*)?(?P<unit>[a-z].*)$"
)


def canonical_unit(unit: str, field: str = "unit") -> str:
    """The canonical spelling of a base unit, or ``ValueError`` naming ``field`` and the allowed units."""
    key = unit.replace(" ", "").lower()
    if key not in _ALIASES:
        raise ValueError(f"{field}: unknown dose unit {unit!r}; allowed: {', '.join(UNITS)}")
    return _ALIASES[key]


def parse_unit(text: str, field: str = "dose_unit") -> tuple[float, str]:
    """Split a scaled unit into (scale, base unit): ``"1e6cells/kg"`` -> ``(1e6, "cells/kg")``.

    Accepted forms: ``cells/kg``, ``1e6cells/kg``, ``1e6 cells/kg``, ``10^6 cells/kg``, ``1e9cells``,
    ``mg/m^2`` (or ``mg/m2``).
    """
    m = _SCALED.match(text.strip().lower())
    if m is None:
        raise ValueError(
            f"{field}: cannot read {text!r}; expected e.g. 1e6cells/kg (units: {', '.join(UNITS)})"
        )
    scale_text = m.group("scale")
    if scale_text is None:
        scale = 1.0
    elif scale_text.startswith("10^"):
        scale = 10.0 ** int(scale_text[3:])
    else:
        scale = float(scale_text)
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"{field}: the scale in {text!r} must be a positive number")
    return scale, canonical_unit(m.group("unit"), field)


@dataclass(frozen=True)
class Dose:
    """One dose: ``value`` in ``unit`` (one of :data:`UNITS`)."""

    value: float
    unit: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "unit", canonical_unit(self.unit))
        if not (math.isfinite(self.value) and self.value > 0):
            raise ValueError(f"dose value must be a positive number, got {self.value!r}")

    def __str__(self) -> str:
        return f"{self.value:g} {self.unit}"


@dataclass(frozen=True, eq=False)
class DoseLevels:
    """The dose levels of a trial, strictly increasing, in one unit.

    ``values`` are in the base ``unit``; ``scale`` is only the display scale the levels were given
    in (``DoseLevels.parse("0.3,0.6", "1e6cells/kg")`` holds 3e5 and 6e5 cells/kg, ``scale`` 1e6).
    """

    values: np.ndarray
    unit: str
    scale: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "unit", canonical_unit(self.unit, "doses"))
        v = np.array(self.values, dtype=float)
        if v.ndim != 1 or v.size == 0:
            raise ValueError("doses: expected a non-empty list of doses")
        bad = ~(np.isfinite(v) & (v > 0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"doses[{i}] = {v[i] / self.scale:g}: a dose must be a positive number")
        if np.any(np.diff(v) <= 0):
            raise ValueError("doses: dose levels must be strictly increasing")
        v.setflags(write=False)
        object.__setattr__(self, "values", v)

    @classmethod
    def parse(cls, values: str | Sequence[float], unit: str = "cells/kg") -> DoseLevels:
        """Levels from ``"0.3,0.6,1.2"`` (or a list of numbers) in a possibly scaled unit."""
        scale, base = parse_unit(unit)
        if isinstance(values, str):
            items = [s.strip() for s in values.split(",")]
            try:
                numbers = [float(s) for s in items]
            except ValueError:
                raise ValueError(f"doses: expected comma-separated numbers, got {values!r}") from None
        else:
            numbers = [float(x) for x in values]
        return cls(np.asarray(numbers) * scale, base, scale)

    @classmethod
    def from_doses(cls, doses: Sequence[Dose], field: str = "doses") -> DoseLevels:
        """Levels from :class:`Dose` objects, which must share one unit (``ValueError`` naming
        ``field`` and the first dose whose unit differs)."""
        if not doses:
            raise ValueError(f"{field}: expected a non-empty list of doses")
        unit = doses[0].unit
        for i, d in enumerate(doses):
            if d.unit != unit:
                raise ValueError(
                    f"{field}[{i}]: unit {d.unit!r} differs from {unit!r} of {field}[0]; "
                    "a dose list must use a single unit"
                )
        return cls(np.array([d.value for d in doses]), unit)

    @property
    def n(self) -> int:
        return self.values.shape[0]

    def __str__(self) -> str:
        numbers = ", ".join(f"{v:g}" for v in self.values / self.scale)
        return f"{numbers} ({self.scale:g} {self.unit})" if self.scale != 1 else f"{numbers} {self.unit}"

    def needs_weight(self, unit: str) -> bool:
        """Whether using these levels where ``unit`` is expected needs each patient's body weight."""
        return {canonical_unit(unit), self.unit} == {"cells", "cells/kg"}


def convert_dose(
    values: np.ndarray, unit: str, to: str, field: str, weight_kg: np.ndarray | None = None
) -> np.ndarray:
    """``values`` in ``unit`` expressed in ``to``: unchanged when the units agree; absolute cells and
    cells/kg convert through ``weight_kg`` (per patient, broadcast).  Any other pair, or a missing
    weight, is a ``ValueError`` naming ``field``."""
    unit, to = canonical_unit(unit, field), canonical_unit(to, field)
    if unit == to:
        return values
    if {unit, to} == {"cells", "cells/kg"}:
        if weight_kg is None:
            raise ValueError(f"{field}: converting {unit} to {to} needs the patients' body weight")
        return values / weight_kg if to == "cells/kg" else values * weight_kg
    raise ValueError(f"{field}: doses in {unit} cannot be used where {to} is expected (mixing units)")
