"""Engines that turn a design and a toxicity model into operating characteristics."""

from doseesc.engines.courses import simulate_courses
from doseesc.engines.events import run_events
from doseesc.engines.exact import exact
from doseesc.engines.montecarlo import simulate

__all__ = ["exact", "run_events", "simulate", "simulate_courses"]
