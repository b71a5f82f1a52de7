"""Preconditioned conjugate gradients for symmetric positive definite systems."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from ._common import IterationState, KrylovSolver, SolveStatus, dot, safe_div
from .recycle import ConjugateDirections

__all__ = ["CG"]


@dataclass(frozen=True)
class CG(KrylovSolver):
    """Preconditioned CG (Hestenes-Stiefel). One iteration = one matvec + one
    preconditioner application. p^T A p <= 0 stops the sample as INDEFINITE (CONVERGED
    when its residual is already at round-off: `IterationState.stop_indefinite`)."""

    name: ClassVar[str] = "cg"
    symmetric_only: ClassVar[bool] = True

    def run(self, matvec, precond, b, x0, directions: ConjugateDirections | None = None):
        """Iterate on [B, n] tensors; returns (x, IterationState). `directions`, when given,
        records each iteration's search direction (for a later solve with the same matrix:
        `ConjugateDirections.start`)."""
        if not torch.is_grad_enabled():
            return self._run_inplace(matvec, precond, b, x0, directions)
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
            if directions is not None:
                directions.keep(p.detach(), pAp.detach(), state.active)
            state.stop_indefinite(pAp)
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

    def _run_inplace(self, matvec, precond, b, x0, directions):
        """The same iteration with preallocated buffers and fused in-place updates (no
        autograd): every vector pass is one kernel and nothing large is allocated per
        iteration. A stopped sample gets alpha = 0, so its x and r stay frozen. The
        per-sample scalars stay on the device (`_run_device_scalars`) or, on the CPU, go to
        the host (`_run_host_scalars`)."""
        run = self._run_host_scalars if b.device.type == "cpu" else self._run_device_scalars
        return run(matvec, precond, b, x0, directions)

    def _run_device_scalars(self, matvec, precond, b, x0, directions):
        """The per-sample scalars as [B] tensors, the stopping tests as masks: nothing waits
        for the device but the convergence test when a tolerance is set."""
        x = x0.clone()
        r = b - matvec(x)
        state = IterationState(torch.linalg.vector_norm(r, dim=-1), torch.linalg.vector_norm(b, dim=-1), self)
        z = torch.empty_like(b)
        precond.apply_into(r, z)
        p = z.clone()
        Ap = torch.empty_like(b)
        rz = dot(r, z)
        for _ in range(self.max_iters):
            if state.finished():
                break
            matvec.into(p, Ap)
            pAp = dot(p, Ap)
            if directions is not None:
                directions.keep(p, pAp, state.active)
            state.stop_indefinite(pAp)
            active = state.active
            alpha = torch.where(active, safe_div(rz, pAp), 0.0)[:, None]
            x.addcmul_(alpha, p)
            r.addcmul_(alpha, Ap, value=-1.0)
            state.record(torch.linalg.vector_norm(r, dim=-1), active)
            precond.apply_into(r, z)
            rz_new = dot(r, z)
            p.mul_(safe_div(rz_new, rz)[:, None]).add_(z)
            rz = rz_new
        state.close()
        return x, state

    def _run_host_scalars(self, matvec, precond, b, x0, directions):
        """`_run_inplace` on the CPU with the per-sample scalars (alpha, beta, the residual
        norms, statuses and counts) held as Python floats: the batched bookkeeping's ~50
        small tensor operations an iteration (masks, `where`s, the stopping tests) cost 0.64
        ms at 50k unknowns around a 0.26 ms product, 0.32 ms here (an AMG-PCG solve 0.81x the
        time; experiments/RESULTS.md). The same operations on the vectors (one sample: the
        same updates with plain numbers), so the same iterates, statuses, counts and history
        as the tensor loop, which GPUs keep (it never waits for the device when rtol = atol
        = 0)."""
        x = x0.clone()
        r = b - matvec(x)
        state = IterationState(torch.linalg.vector_norm(r, dim=-1), torch.linalg.vector_norm(b, dim=-1), self)
        batch, dtype = b.shape[0], b.dtype
        status, tol, history = state.status.tolist(), state.tol.tolist(), [state.history[0].tolist()]
        roundoff = [1e3 * torch.finfo(dtype).eps * r0 for r0 in history[0]]
        n_iters = [0] * batch

        def per_sample(values: list[float]):  # a [B, 1] factor (a plain number for one sample: fewer calls)
            return values[0] if batch == 1 else torch.tensor(values, dtype=dtype)[:, None]

        z = torch.empty_like(b)
        precond.apply_into(r, z)
        p, Ap = z.clone(), torch.empty_like(b)
        rz = dot(r, z).tolist()
        for _ in range(self.max_iters):
            if state.check and min(status) >= 0:
                break
            matvec.into(p, Ap)
            pAp_tensor = dot(p, Ap)
            pAp = pAp_tensor.tolist()
            if directions is not None:
                directions.keep(p, pAp_tensor, torch.tensor([s < 0 for s in status]))
            for i in range(batch):  # `IterationState.stop_indefinite`
                if status[i] < 0 and pAp[i] <= 0:
                    status[i] = int(SolveStatus.CONVERGED if history[-1][i] <= roundoff[i] else SolveStatus.INDEFINITE)
            alpha = per_sample([rz[i] / pAp[i] if status[i] < 0 and pAp[i] != 0 else 0.0 for i in range(batch)])
            if batch == 1:
                x.add_(p, alpha=alpha)
                r.add_(Ap, alpha=-alpha)
            else:
                x.addcmul_(alpha, p)
                r.addcmul_(alpha, Ap, value=-1.0)
            residual = torch.linalg.vector_norm(r, dim=-1).tolist()
            history.append(residual)
            for i in range(batch):  # `IterationState.record`
                if status[i] < 0:
                    n_iters[i] += 1
                    if not math.isfinite(residual[i]):
                        status[i] = int(SolveStatus.NONFINITE)
                    elif residual[i] <= tol[i]:
                        status[i] = int(SolveStatus.CONVERGED)
            precond.apply_into(r, z)
            rz_new = dot(r, z).tolist()
            p.mul_(per_sample([rz_new[i] / rz[i] if rz[i] != 0 else 0.0 for i in range(batch)])).add_(z)
            rz = rz_new
        state.status = torch.tensor([s if s >= 0 else int(SolveStatus.CAPPED) for s in status])
        state.n_iters = torch.tensor(n_iters)
        state.history = torch.tensor(history, dtype=state.tol.dtype)
        return x, state
