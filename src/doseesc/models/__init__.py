"""Toxicity models: the probability that a patient has a dose-limiting toxicity (DLT)."""

from doseesc.models.base import ToxicityModel
from doseesc.models.table import DoseToxicityTable, validate_probabilities

__all__ = ["DoseToxicityTable", "ToxicityModel", "validate_probabilities"]
