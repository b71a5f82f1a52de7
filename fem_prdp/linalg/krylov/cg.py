"""Preconditioned conjugate gradients for symmetric positive definite systems."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ._common import IterationState, KrylovSolver, SolveStatus, dot, safe_div

__all__ = ["CG"]


@dataclass(frozen=True)
class CG(KrylovSolver):
    """Preconditioned CG (Hestenes-Stiefel). One iteration = one matvec + one
    preconditioner application. p^T A p <= 0 stops the sample as INDEFINITE."""

    name: ClassVar[str] = "cg"
    symmetric_only: ClassVar[bool] = True

    def run(self, matvec, precond, b, x0):
        x = x0
        r = b - matvec(x)
        state = IterationState(r.norm(dim=-1), b.norm(dim=-1), self)
        z = precond(r)
        p = z
        rz = dot(r, z)
        for _ in range(self.max_iters):
            if state.finished():
                break
            Ap = matvec(p)
            pAp = dot(p, Ap)
            state.stop_where(pAp <= 0, SolveStatus.INDEFINITE)
            active = state.active
            alpha = safe_div(rz, pAp)
            x = torch.where(active[:, None], x + alpha[:, None] * p, x)
            r = torch.where(active[:, None], r - alpha[:, None] * Ap, r)
            state.record(r.norm(dim=-1), active)
            z = precond(r)
            rz_new = dot(r, z)
            beta = safe_div(rz_new, rz)
            p = torch.where(state.active[:, None], z + beta[:, None] * p, p)
            rz = rz_new
        state.close()
        return x, state
