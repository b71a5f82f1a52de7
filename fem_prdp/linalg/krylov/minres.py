"""Preconditioned MINRES for symmetric (possibly indefinite) systems, e.g. saddle points."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ._common import IterationState, KrylovSolver, SolveStatus, dot, safe_div

__all__ = ["MINRES"]


@dataclass(frozen=True)
class MINRES(KrylovSolver):
    """MINRES (Paige & Saunders 1975) with a symmetric positive definite preconditioner.

    The monitored residual is the recurrence estimate in the M^-1 norm, compared with
    rtol times the same norm of the initial residual; `SolveInfo.residual_norm` is the true
    2-norm. An indefinite preconditioner ((r, M r) < 0) stops the sample as INDEFINITE.
    """

    name: ClassVar[str] = "minres"
    symmetric_only: ClassVar[bool] = True

    def run(self, matvec, precond, b, x0):
        x = x0
        r1 = b - matvec(x)
        y = precond(r1)
        ry = dot(r1, y)
        beta1 = torch.sqrt(ry.clamp(min=0))
        state = IterationState(beta1, beta1, self)
        state.stop_where(ry < 0, SolveStatus.INDEFINITE)
        zero = torch.zeros_like(beta1)
        beta, oldb, dbar, epsln, phibar = beta1, zero, zero, zero, beta1
        cs, sn = -torch.ones_like(beta1), zero
        w = w2 = torch.zeros_like(b)
        r2 = r1
        eps = torch.finfo(b.dtype).eps
        for itn in range(self.max_iters):
            if state.finished():
                break
            v = safe_div(torch.ones_like(beta), beta)[:, None] * y
            y = matvec(v)
            if itn > 0:
                y = y - safe_div(beta, oldb)[:, None] * r1
            alfa = dot(v, y)
            y = y - safe_div(alfa, beta)[:, None] * r2
            r1, r2 = r2, y
            y = precond(r2)
            oldb = beta
            ry = dot(r2, y)
            state.stop_where(ry < 0, SolveStatus.INDEFINITE)
            beta = torch.sqrt(ry.clamp(min=0))
            oldeps = epsln
            delta = cs * dbar + sn * alfa
            gbar = sn * dbar - cs * alfa
            epsln = sn * beta
            dbar = -cs * beta
            gamma = torch.sqrt(gbar**2 + beta**2).clamp(min=eps)
            cs, sn = gbar / gamma, beta / gamma
            phi = cs * phibar
            phibar = sn * phibar
            w1, w2 = w2, w
            w = (v - oldeps[:, None] * w1 - delta[:, None] * w2) / gamma[:, None]
            active = state.active
            x = torch.where(active[:, None], x + phi[:, None] * w, x)
            state.record(phibar, active)
        state.close()
        return x, state
