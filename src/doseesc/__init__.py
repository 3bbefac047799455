"""doseesc: dose-escalation trial simulation (3+3 and accelerated titration designs)."""

__version__ = "0.1.0"
