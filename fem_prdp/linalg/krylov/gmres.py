"""Restarted, flexibly right-preconditioned GMRES(m) for nonsymmetric systems."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ._common import IterationState, KrylovSolver, SolveStatus, dot, safe_div

__all__ = ["GMRES"]


@dataclass(frozen=True)
class GMRES(KrylovSolver):
    """GMRES(m) with right preconditioning: the monitored residual is the true one.

    Flexible (Saad's FGMRES): the preconditioned vectors z_j = M v_j are kept and the
    update is sum_j y_j z_j, not M (sum_j y_j v_j). For a fixed linear M the two are the
    same; for a preconditioner that is linear only up to its rounding (a float32 multigrid
    cycle around float64 iterates) the second left the true residual at ~1e-7 while the
    estimate went on to 1e-13. It costs m more stored vectors a cycle and saves one
    application of M.

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
        basis = _KrylovBasis(r * safe_div(torch.ones_like(beta), beta)[:, None], m)
        H: list[list[torch.Tensor]] = []  # H[j][i] = h_{i,j} after rotation (upper triangular)
        cs: list[torch.Tensor] = []
        sn: list[torch.Tensor] = []
        g = [beta]
        n_cols = torch.zeros_like(state.n_iters)  # Krylov columns each sample uses
        running = state.active
        for j in range(m):
            if j > 0 and state.finished():
                break
            z = precond(basis.column(j))
            w = matvec(z)
            w, h = basis.orthogonalize(w)  # h [B, j + 1]
            basis.keep_preconditioned(z)
            col = list(h.unbind(-1))
            h_next = w.norm(dim=-1)
            basis.append(w * safe_div(torch.ones_like(h_next), h_next)[:, None])
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
        x = x + basis.combine_preconditioned(y)
        r = b - matvec(x)
        return x, r


class _KrylovBasis:
    """The orthonormal Krylov vectors of one cycle, [B, j, n].

    Without autograd recording the iterations they live in one buffer [B, m + 1, n] written
    in place and are orthogonalised by classical Gram-Schmidt applied twice (CGS2: as
    stable as modified Gram-Schmidt, two batched products per step instead of j + 1 vector
    updates). Allocating a fresh [B, n] temporary per Gram-Schmidt step, as MGS does, made
    glibc's heap grow to 10x the working set (measured: 5.6 GB against 0.55 GB for 24
    right-hand sides, restart 200). When autograd records (unrolled gradients), in-place
    writes are not allowed and stacking the basis would store a copy per step for the
    backward pass, so the vectors stay a list and MGS is used.
    """

    def __init__(self, v0: torch.Tensor, m: int):
        self.m, self.n = m, 1
        self.buffer: torch.Tensor | None = None
        self.vectors = [v0]  # until the first product shows whether autograd records
        self.preconditioned: list[torch.Tensor] | torch.Tensor = []  # z_j = M v_j: a list, or [B, m, n]
        self.n_preconditioned = 0

    def column(self, j: int) -> torch.Tensor:
        return self.buffer[:, j] if self.buffer is not None else self.vectors[j]

    def orthogonalize(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """w minus its projection on the basis, and the coefficients h [B, j]."""
        if self.n == 1 and not (torch.is_grad_enabled() and (w.requires_grad or self.vectors[0].requires_grad)):
            v0 = self.vectors.pop()
            self.buffer = v0.new_empty((v0.shape[0], self.m + 1, v0.shape[1]))
            self.buffer[:, 0] = v0
        if self.buffer is None:  # modified Gram-Schmidt on the list
            hs = []
            for v in self.vectors:
                hs.append(dot(w, v))
                w = w - hs[-1][:, None] * v
            return w, torch.stack(hs, -1)
        V = self.buffer[:, : self.n]  # [B, j, n]
        h = torch.bmm(V, w.unsqueeze(2))  # [B, j, 1]
        w = w - torch.bmm(h.transpose(1, 2), V).squeeze(1)
        h2 = torch.bmm(V, w.unsqueeze(2))
        w = w - torch.bmm(h2.transpose(1, 2), V).squeeze(1)
        return w, (h + h2).squeeze(2)

    def append(self, v: torch.Tensor) -> None:
        if self.buffer is not None:
            self.buffer[:, self.n] = v
        else:
            self.vectors.append(v)
        self.n += 1

    def keep_preconditioned(self, z: torch.Tensor) -> None:
        """Store z_j = M v_j (in a buffer like the basis's when autograd does not record)."""
        if self.buffer is None:
            self.preconditioned.append(z)
        else:
            if self.n_preconditioned == 0:
                self.preconditioned = z.new_empty((z.shape[0], self.m, z.shape[1]))
            self.preconditioned[:, self.n_preconditioned] = z
        self.n_preconditioned += 1

    def combine_preconditioned(self, y: torch.Tensor) -> torch.Tensor:
        """sum_i y[:, i] z_i for y [B, k]."""
        if isinstance(self.preconditioned, list):
            return sum(y[:, i, None] * self.preconditioned[i] for i in range(y.shape[1]))
        return torch.bmm(y.unsqueeze(1), self.preconditioned[:, : y.shape[1]]).squeeze(1)
