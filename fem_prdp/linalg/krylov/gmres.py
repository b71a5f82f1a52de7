"""Restarted, right-preconditioned GMRES(m) for nonsymmetric systems."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ._common import IterationState, KrylovSolver, SolveStatus, dot, safe_div

__all__ = ["GMRES"]


@dataclass(frozen=True)
class GMRES(KrylovSolver):
    """GMRES(m) with right preconditioning: the monitored residual is the true one.

    `max_iters` counts inner iterations (= matvecs); the paper's Navier-Stokes cap counts
    restart cycles, i.e. max_iters = K * restart. Arnoldi uses modified Gram-Schmidt; the
    least-squares problem is updated with Givens rotations. A sample that converges inside
    a cycle stops adding Krylov vectors; its update uses only the columns it built.

    Args:
        restart: Krylov subspace size m before a restart (>= 1).
    """

    restart: int = 30
    name: ClassVar[str] = "gmres"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.restart, int) or self.restart < 1:
            raise ValueError(f"GMRES: restart must be an int >= 1, got {self.restart!r}")

    def run(self, matvec, precond, b, x0):
        x = x0
        r = b - matvec(x)
        state = IterationState(r.norm(dim=-1), b.norm(dim=-1), self)
        done = 0
        while done < self.max_iters and not state.finished():
            m = min(self.restart, self.max_iters - done)
            x, r = self._cycle(matvec, precond, b, x, r, m, state)
            done += m
            if not state.check and done >= self.max_iters:
                break
        state.close()
        return x, state

    def _cycle(self, matvec, precond, b, x, r, m, state: IterationState):
        beta = r.norm(dim=-1)
        V = [r * safe_div(torch.ones_like(beta), beta)[:, None]]
        H: list[list[torch.Tensor]] = []  # H[j][i] = h_{i,j} after rotation (upper triangular)
        cs: list[torch.Tensor] = []
        sn: list[torch.Tensor] = []
        g = [beta]
        n_cols = torch.zeros_like(state.n_iters)  # Krylov columns each sample uses
        running = state.active
        for j in range(m):
            if j > 0 and state.finished():
                break
            w = matvec(precond(V[j]))
            col = []
            for i in range(j + 1):  # modified Gram-Schmidt
                h = dot(w, V[i])
                w = w - h[:, None] * V[i]
                col.append(h)
            h_next = w.norm(dim=-1)
            V.append(w * safe_div(torch.ones_like(h_next), h_next)[:, None])
            for i in range(j):  # previous rotations
                a, c = col[i], col[i + 1]
                col[i], col[i + 1] = cs[i] * a + sn[i] * c, -sn[i] * a + cs[i] * c
            denom = torch.sqrt(col[j] ** 2 + h_next**2)
            c_j = torch.where(denom > 0, safe_div(col[j], denom), torch.ones_like(denom))
            s_j = safe_div(h_next, denom)
            cs.append(c_j)
            sn.append(s_j)
            col[j] = c_j * col[j] + s_j * h_next
            H.append(col)
            g.append(-s_j * g[j])
            g[j] = c_j * g[j]
            running = state.active
            n_cols = n_cols + running.long()
            # Zero pivot with a non-zero residual: the Krylov space stopped growing (breakdown).
            state.stop_where(running & (col[j] == 0) & (g[j + 1].abs() > state.tol), SolveStatus.BREAKDOWN)
            state.record(g[j + 1].abs(), running)
        k = len(H)
        if k == 0:
            return x, r
        # Solve R y = g for each sample using its own n_cols columns: unused diagonal
        # entries become 1 and their right-hand sides 0, so those y entries vanish.
        R = torch.stack(
            [
                torch.stack([H[jj][ii] if ii <= jj else torch.zeros_like(beta) for jj in range(k)], -1)
                for ii in range(k)
            ],
            -2,
        )
        idx = torch.arange(k, device=b.device)
        used = idx[None, :] < n_cols[:, None]  # [B, k]
        diag = torch.diagonal(R, dim1=-2, dim2=-1)
        fix = torch.where(used, diag, torch.ones_like(diag))
        fix = torch.where(fix == 0, torch.ones_like(fix), fix)  # breakdown columns
        R = R - torch.diag_embed(diag) + torch.diag_embed(fix)
        R = R * (used[:, :, None] & used[:, None, :]) + torch.diag_embed(torch.where(used, 0.0, 1.0).to(R))
        rhs = torch.where(used, torch.stack(g[:k], -1), torch.zeros_like(fix))
        y = torch.linalg.solve_triangular(R, rhs[..., None], upper=True)[..., 0]
        update = sum(y[:, i, None] * V[i] for i in range(k))
        x = x + precond(update)
        r = b - matvec(x)
        return x, r
