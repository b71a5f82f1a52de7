"""What every stepper shares: the capped solve with its cost log, and input checks.

`k=None` solves to the stepper's tolerance; `k=K` runs exactly K iterations (rtol = 0),
the PRDP setting. GMRES counts inner iterations (matvecs). Each solve's `SolveInfo` goes to
`solve_log`; the implicit backward pass appends its adjoint info to `info.adjoint`, so
`iterations()` counts primal and adjoint work once backward has run.
"""

from __future__ import annotations

import math

import torch

from ..linalg import CG, GMRES, MINRES, BiCGStab, Preconditioner, Richardson, SolveInfo, SparseMatrix, solve

__all__ = ["CappedSolver", "check_state", "check_positive"]

# "richardson" with the Jacobi preconditioner is the Jacobi method the PRDP paper caps.
_METHODS = {"cg": CG, "gmres": GMRES, "bicgstab": BiCGStab, "minres": MINRES, "richardson": Richardson}


def check_positive(name: str, value, owner: str) -> None:
    if isinstance(value, torch.Tensor):
        if not bool((value > 0).all()) or not bool(torch.isfinite(value).all()):
            raise ValueError(f"{owner}: {name} must be positive and finite everywhere")
    elif not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{owner}: {name} must be a positive number, got {value!r}")


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
        self.solve_log: list[SolveInfo] = []

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
        x, info = solve(A, b, self.krylov(k), precond, x0, grad=self.grad)
        self.solve_log.append(info)
        return x

    def iterations(self) -> dict:
        """Cumulative iterations and matrix-vector products (summed over samples) and wall
        seconds of the logged primal solves and of their adjoints (run during backward)."""
        adjoints = [a for i in self.solve_log for a in i.adjoint]
        return {
            "primal": sum(int(i.n_iters.sum()) for i in self.solve_log),
            "adjoint": sum(int(a.n_iters.sum()) for a in adjoints),
            "matvecs": sum(int(i.matvecs.sum()) for i in [*self.solve_log, *adjoints]),
            "seconds": sum(i.seconds for i in [*self.solve_log, *adjoints]),
            "solves": len(self.solve_log),
        }

    def reset_log(self) -> None:
        self.solve_log = []

