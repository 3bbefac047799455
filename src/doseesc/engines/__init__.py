"""Engines that turn a design and a toxicity model into operating characteristics."""

from doseesc.engines.exact import exact
from doseesc.engines.montecarlo import simulate

__all__ = ["exact", "simulate"]
