"""Differentiable physics steppers whose linear solves are capped at K. Every stepper
follows the contract in `fem_prdp.physics.contract` (`Stepper`)."""

from ._common import CappedSolver
from .burgers import BurgersStepper
from .contract import Stepper
from .forces import boundary_force, drag_lift_coefficients
from .heat import HeatStepper
from .navier_stokes import NavierStokesStepper, divergence_free_projection, vorticity
from .poisson import PoissonProblem
from .steady import SteadyState, SteadyStateError, steady_state

__all__ = [
    "Stepper", "CappedSolver", "HeatStepper", "PoissonProblem", "BurgersStepper", "NavierStokesStepper",
    "divergence_free_projection", "steady_state", "SteadyState", "SteadyStateError", "vorticity", "boundary_force", "drag_lift_coefficients",
]
