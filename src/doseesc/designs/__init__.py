"""Dose-escalation designs, each a decision rule written once on array state."""

from doseesc.designs.base import RUNNING, DecisionTable, Design, State, compile_design
from doseesc.designs.threeplusthree import ThreePlusThree

__all__ = ["RUNNING", "DecisionTable", "Design", "State", "ThreePlusThree", "compile_design"]
