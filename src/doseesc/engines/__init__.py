"""Engines that turn a design and a toxicity model into operating characteristics.

The calendar-time and course engines are imported when first named (``from doseesc.engines import
run_events``): a command that runs the Monte Carlo engine does not wait for them.  ``exact`` is
imported at once because its module has the same name, which a later import of the module would
otherwise put in its place here."""

from importlib import import_module
from typing import Any

from doseesc.engines.exact import exact
from doseesc.engines.montecarlo import simulate

_LAZY = {"run_events": "doseesc.engines.events", "simulate_courses": "doseesc.engines.courses"}

__all__ = ["exact", "run_events", "simulate", "simulate_courses"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
