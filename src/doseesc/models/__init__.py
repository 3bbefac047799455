"""Toxicity models: the probability that a patient has a dose-limiting toxicity (DLT)."""

from importlib import import_module
from typing import Any

from doseesc.models.base import ToxicityModel
from doseesc.models.table import DoseToxicityTable, validate_probabilities

# Parametric models, regimens and the HALPC calibration need scipy.optimize and scipy.stats.qmc:
# they are imported on first use, so that the engines and the command line start fast.
_LAZY = {
    "Dose": "units",
    "DoseLevels": "units",
    "parse_unit": "units",
    "CovariateTerm": "logistic",
    "LogisticRisk": "logistic",
    "NormalPrior": "logistic",
    "Posterior": "logistic",
    "fit_posterior": "logistic",
    "MechanismModel": "mechanisms",
    "Regimen": "mechanisms",
    "any_mechanism": "mechanisms",
    "HalpcCalibration": "halpc",
    "calibrate_halpc": "halpc",
    "format_calibration": "halpc",
    "halpc_bleeding_model": "halpc",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"doseesc.models.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'doseesc.models' has no attribute {name!r}")


__all__ = ["DoseToxicityTable", "ToxicityModel", "validate_probabilities", *_LAZY]
