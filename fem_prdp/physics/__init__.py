"""Differentiable physics steppers whose linear solves are capped at K."""

from ._common import CappedSolver
from .heat import HeatStepper
from .poisson import PoissonProblem

__all__ = ["CappedSolver", "HeatStepper", "PoissonProblem"]
