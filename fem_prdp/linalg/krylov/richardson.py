"""Preconditioned Richardson iteration: with the Jacobi preconditioner this is the
(weighted) Jacobi method the PRDP paper caps, one sweep per iteration."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from ._common import IterationState, KrylovSolver

__all__ = ["Richardson"]


@dataclass(frozen=True)
class Richardson(KrylovSolver):
    """x <- x + omega P^-1 (b - A x). One iteration = one matvec + one preconditioner
    application. Converges when the spectral radius of I - omega P^-1 A is below 1 (Jacobi:
    strictly diagonally dominant matrices, or SPD ones with omega small enough); a diverging
    iteration ends as NONFINITE or CAPPED, never silently.

    Args:
        omega: relaxation weight (> 0); 1 with Jacobi = the classic Jacobi method.
    """

    omega: float = 1.0
    name: ClassVar[str] = "richardson"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (isinstance(self.omega, (int, float)) and math.isfinite(self.omega) and self.omega > 0):
            raise ValueError(f"Richardson: omega must be a finite number > 0, got {self.omega!r}")

    def run(self, matvec, precond, b, x0):
        x = x0
        r = b - matvec(x)
        state = IterationState(torch.linalg.vector_norm(r, dim=-1), torch.linalg.vector_norm(b, dim=-1), self)
        for _ in range(self.max_iters):
            if state.finished():
                break
            active = state.active[:, None]
            x = torch.where(active, x + self.omega * precond(r), x)
            r = torch.where(active, b - matvec(x), r)  # the true residual: no drift over many sweeps
            state.record(torch.linalg.vector_norm(r, dim=-1), state.active)
        state.close()
        return x, state
