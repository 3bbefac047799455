"""doseesc: dose-escalation trial simulation (A+B and accelerated titration designs)."""

__version__ = "0.1.0"

from doseesc.tables import read_results

__all__ = ["__version__", "read_results"]
