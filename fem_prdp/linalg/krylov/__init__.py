"""Krylov solvers on [B, n] tensors, capped at max_iters, with honest `SolveInfo`."""

from ._common import KrylovSolver, SolveError, SolveInfo, SolveStatus
from .bicgstab import BiCGStab
from .cg import CG
from .gmres import GMRES
from .minres import MINRES
from .richardson import Richardson

__all__ = ["KrylovSolver", "SolveError", "SolveInfo", "SolveStatus", "CG", "GMRES", "BiCGStab", "MINRES", "Richardson"]
