"""Right-preconditioned BiCGStab for nonsymmetric systems."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ._common import IterationState, KrylovSolver, SolveStatus, dot, safe_div

__all__ = ["BiCGStab"]


@dataclass(frozen=True)
class BiCGStab(KrylovSolver):
    """BiCGStab (van der Vorst 1992), right-preconditioned so the monitored residual is the
    true one. One iteration = two matvecs; a sample whose half-step residual s already meets
    the tolerance stops after the half step. rho = 0, (r_hat, v) = 0 or omega = 0 with a
    non-zero residual is a BREAKDOWN."""

    name: ClassVar[str] = "bicgstab"

    def run(self, matvec, precond, b, x0):
        x = x0
        r = b - matvec(x)
        state = IterationState(r.norm(dim=-1), b.norm(dim=-1), self)
        r_hat = r
        ones = torch.ones(b.shape[0], dtype=b.dtype, device=b.device)
        rho, alpha, omega = ones, ones, ones
        v = p = torch.zeros_like(b)
        for _ in range(self.max_iters):
            if state.finished():
                break
            rho_new = dot(r_hat, r)
            state.stop_where(rho_new == 0, SolveStatus.BREAKDOWN)
            beta = safe_div(rho_new, rho) * safe_div(alpha, omega)
            p = r + beta[:, None] * (p - omega[:, None] * v)
            p_hat = precond(p)
            v = matvec(p_hat)
            rv = dot(r_hat, v)
            state.stop_where(rv == 0, SolveStatus.BREAKDOWN)
            alpha = safe_div(rho_new, rv)
            s = r - alpha[:, None] * v
            s_norm = s.norm(dim=-1)
            active = state.active
            half = active & (s_norm <= state.tol)  # converged after the half step
            s_hat = precond(s)
            t = matvec(s_hat)
            tt = dot(t, t)
            omega = safe_div(dot(t, s), tt)
            state.stop_where(~half & (omega == 0), SolveStatus.BREAKDOWN)
            full = state.active & ~half
            x = torch.where(half[:, None], x + alpha[:, None] * p_hat, x)
            x = torch.where(full[:, None], x + alpha[:, None] * p_hat + omega[:, None] * s_hat, x)
            r = torch.where(half[:, None], s, torch.where(full[:, None], s - omega[:, None] * t, r))
            state.record(r.norm(dim=-1), half | full)
            rho = rho_new
        state.close()
        return x, state
