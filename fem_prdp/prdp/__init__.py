"""PRDP: the refinement controller, its comparison schedules and the cost meter. Imports
nothing else from the project, so it works with any solver."""

from .controller import (
    Converged,
    Decision,
    FixedK,
    PRDPController,
    ToleranceSchedule,
    TrainingLossPRDP,
    controller_from_state,
)
from .cost import CostMeter, EpochCost, savings_report

__all__ = [
    "PRDPController", "TrainingLossPRDP", "FixedK", "Converged", "ToleranceSchedule", "Decision",
    "controller_from_state", "CostMeter", "EpochCost", "savings_report",
]
