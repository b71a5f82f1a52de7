"""Differentiable physics steppers whose linear solves are capped at K."""

from ._common import CappedSolver
from .burgers import BurgersStepper
from .heat import HeatStepper
from .navier_stokes import NavierStokesStepper, divergence_free_projection, steady_state, vorticity
from .poisson import PoissonProblem

__all__ = [
    "CappedSolver", "HeatStepper", "PoissonProblem", "BurgersStepper", "NavierStokesStepper",
    "divergence_free_projection", "steady_state", "vorticity",
]
