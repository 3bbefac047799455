"""Dose-escalation designs, each a decision rule written once on array state."""

from doseesc.designs.aplusb import APlusB, ThreePlusThree
from doseesc.designs.base import RUNNING, DecisionTable, Design, State, compile_design
from doseesc.designs.common import CommonDesign
from doseesc.designs.titration import AcceleratedTitration

__all__ = [
    "RUNNING",
    "APlusB",
    "AcceleratedTitration",
    "CommonDesign",
    "DecisionTable",
    "Design",
    "State",
    "ThreePlusThree",
    "compile_design",
]
