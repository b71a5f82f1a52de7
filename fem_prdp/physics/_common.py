"""What every stepper shares: the capped solve, and input checks.

`k=None` solves to the stepper's tolerance; `k=K` runs exactly K iterations (rtol = 0),
the PRDP setting. GMRES counts inner iterations (matvecs). The solver keeps no log: each
solve's `SolveInfo` goes to the `solve_records()` blocks the caller opened, and a solve
that ends NONFINITE, BREAKDOWN or INDEFINITE (forward or, in the backward pass, adjoint)
raises `SolveError`; CAPPED never raises.
"""

from __future__ import annotations

import math

import torch

from ..fem import dirichlet_conditions
from ..linalg import CG, GMRES, MINRES, BiCGStab, Preconditioner, Richardson, SparseMatrix, solve

__all__ = ["CappedSolver", "check_state", "check_positive", "check_coefficient", "resolve_dirichlet"]

# "richardson" with the Jacobi preconditioner is the Jacobi method the PRDP paper caps.
_METHODS = {"cg": CG, "gmres": GMRES, "bicgstab": BiCGStab, "minres": MINRES, "richardson": Richardson}


def check_positive(name: str, value, owner: str) -> None:
    if isinstance(value, torch.Tensor):
        if not bool((value > 0).all()) or not bool(torch.isfinite(value).all()):
            raise ValueError(f"{owner}: {name} must be positive and finite everywhere")
    elif not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{owner}: {name} must be a positive number, got {value!r}")


def check_coefficient(name: str, value, owner: str) -> None:
    """A coefficient: a positive number or tensor, or a `Field` (checked on its values)."""
    check_positive(name, value if isinstance(value, (int, float, torch.Tensor)) else value.values, owner)


def resolve_dirichlet(space, fixed: dict, override: dict | None, owner: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(dofs, values) of the constructor's Dirichlet conditions `fixed`, with this call's
    values for some of those boundaries (`override`, differentiable). Only the values can
    change per call: the constrained dofs (and so the matrix's elimination) stay."""
    override = override or {}
    unknown = sorted(set(override) - set(fixed))
    if unknown:
        raise ValueError(f"{owner}: dirichlet values for {unknown}, which the stepper was not built with "
                         f"(built with: {sorted(fixed) or 'none'}); name the boundary in the constructor's dirichlet")
    return dirichlet_conditions(space, {**fixed, **override})


def check_state(u: torch.Tensor, n: int, owner: str, what: str = "state") -> torch.Tensor:
    """u must be [n] or [B, n], finite."""
    if not isinstance(u, torch.Tensor) or u.ndim not in (1, 2) or u.shape[-1] != n:
        shape = tuple(u.shape) if isinstance(u, torch.Tensor) else type(u).__name__
        raise ValueError(f"{owner}: {what} has shape {shape}, expected ({n},) or (batch, {n}) "
                         "(one value per dof of the space)")
    if not bool(torch.isfinite(u).all()):
        raise ValueError(f"{owner}: {what} contains NaN or Inf; refusing to solve")
    return u


class CappedSolver:
    """A Krylov method + preconditioner choice, applied with a cap K per call."""

    def __init__(self, method: str = "cg", rtol: float = 1e-10, max_iters: int = 10_000,
                 restart: int = 30, grad: str = "implicit"):
        if method not in _METHODS:
            raise ValueError(f"solver method must be one of {sorted(_METHODS)}, got {method!r}")
        self.method, self.rtol, self.max_iters, self.restart, self.grad = method, rtol, max_iters, restart, grad

    def krylov(self, k: int | None):
        cls = _METHODS[self.method]
        extra = {"restart": self.restart} if self.method == "gmres" else {}
        if k is None:
            return cls(rtol=self.rtol, max_iters=self.max_iters, **extra)
        if not isinstance(k, int) or k < 0:
            raise ValueError(f"iteration cap k must be None or an int >= 0, got {k!r}")
        return cls(rtol=0.0, max_iters=k, **extra)

    def __call__(self, A: SparseMatrix, b: torch.Tensor, k: int | None, precond: Preconditioner | None,
                 x0: torch.Tensor | None = None) -> torch.Tensor:
        """x for A x = b capped at k; raises `SolveError` on a failed (not a capped) solve."""
        x, _ = solve(A, b, self.krylov(k), precond, x0, grad=self.grad, check=True)
        return x

    def __repr__(self) -> str:
        return (f"CappedSolver({self.method!r}, rtol={self.rtol:g}, max_iters={self.max_iters}, "
                f"restart={self.restart}, grad={self.grad!r})")
