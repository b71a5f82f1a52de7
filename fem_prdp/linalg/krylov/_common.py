"""Pieces every Krylov solver shares: status codes, `SolveInfo`, the solver base class and
the per-sample bookkeeping of a batched iteration.

Vectors inside the solvers are [B, n]: one row per right-hand side (and per matrix when
the matrix is batched). Every sample carries its own status; a finished sample is frozen
with `torch.where`, so the other samples' iterates are exactly those of an unbatched run.
When rtol = atol = 0 (the PRDP setting: exactly K iterations) the loop never synchronises
with the host to test convergence.
"""

from __future__ import annotations

import abc
import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import torch

__all__ = ["SolveStatus", "SolveInfo", "SolveError", "KrylovSolver", "IterationState"]

MatVec = Callable[[torch.Tensor], torch.Tensor]


class SolveStatus(enum.IntEnum):
    """Why a solve stopped; larger is worse (the batch reports its worst sample)."""

    CONVERGED = 0
    CAPPED = 1
    INDEFINITE = 2
    BREAKDOWN = 3
    NONFINITE = 4

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    SolveStatus.CONVERGED: "converged: the residual met rtol/atol.",
    SolveStatus.CAPPED: "stopped at max_iters before meeting the tolerance (normal under PRDP); "
    "raise max_iters or use a stronger preconditioner if you need convergence.",
    SolveStatus.INDEFINITE: "the matrix (CG) or preconditioner (CG/MINRES) is not positive definite; "
    "use MINRES for symmetric indefinite or GMRES/BiCGStab for nonsymmetric systems.",
    SolveStatus.BREAKDOWN: "the method broke down (a zero denominator with a non-zero residual, or a "
    "residual estimate that met the tolerance while the true residual stayed 100x above it: a singular "
    "or inconsistent preconditioner, or a tolerance below the round-off floor of the dtype, about "
    "eps x cond(A), e.g. rtol 1e-10 in float32); try GMRES, a different x0 or another preconditioner, "
    "or a tolerance the dtype can reach (float64 physics, or rtol >= 1e-5 in float32).",
    SolveStatus.NONFINITE: "NaN or Inf appeared in the iteration; check A, b and x0 for NaN/Inf "
    "and the preconditioner for zero pivots.",
}


class SolveError(RuntimeError):
    """Raised by `solve(..., check=True)` on NONFINITE, BREAKDOWN or INDEFINITE."""


@dataclass(frozen=True)
class SolveInfo:
    """The honest account of a solve.

    Attributes:
        status: worst status over the batch.
        statuses: per-sample statuses (one entry for an unbatched solve).
        n_iters: [B] int64. Iterations per sample (GMRES: inner iterations = matvecs;
            BiCGStab: one iteration = two matvecs).
        residual_norm: [B] float. True final residual ||b - A x|| (recomputed, not estimated).
        rhs_norm: [B] float. ||b||.
        residual_history: [n_steps + 1, B] float. The method's own residual estimate per
            iteration (MINRES: in the preconditioner's norm).
        method: solver name; max_iters: the cap K.
        adjoint: filled by the implicit backward pass with the adjoint solve's `SolveInfo`.
        seconds: wall time of the solve (host clock; on a GPU the work is asynchronous and
            this measures the launch unless the caller synchronises).
        matvecs: [B] matrix-vector products per sample (BiCGStab: 2 per iteration; every
            method: +1 for the initial residual).
        loop: which loop ran: "fused" (the native CPU kernels) or "torch".
    """

    status: SolveStatus
    statuses: tuple[SolveStatus, ...]
    n_iters: torch.Tensor
    residual_norm: torch.Tensor
    rhs_norm: torch.Tensor
    residual_history: torch.Tensor
    method: str
    max_iters: int
    adjoint: list = field(default_factory=list, compare=False)
    seconds: float = 0.0
    loop: str = "torch"

    @property
    def matvecs(self) -> torch.Tensor:
        per_iteration = 2 if self.method == "bicgstab" else 1
        return per_iteration * self.n_iters + 1

    @property
    def converged(self) -> torch.Tensor:
        """[B] bool."""
        return torch.tensor([s == SolveStatus.CONVERGED for s in self.statuses])

    @property
    def relative_residual(self) -> torch.Tensor:
        return self.residual_norm / torch.where(self.rhs_norm > 0, self.rhs_norm, 1.0)

    @property
    def message(self) -> str:
        worst = int(torch.argmax(self.residual_norm)) if len(self.statuses) > 1 else 0
        return (
            f"{self.method}: {self.status.message} (iterations {int(self.n_iters.max())}/"
            f"{self.max_iters}, relative residual {float(self.relative_residual[worst]):.3g})"
        )

    def check(self) -> SolveInfo:
        """Raise `SolveError` on NONFINITE, BREAKDOWN or INDEFINITE; CAPPED is not an error."""
        if self.status >= SolveStatus.INDEFINITE:
            raise SolveError(self.message)
        return self


@dataclass(frozen=True)
class KrylovSolver(abc.ABC):
    """Configuration shared by all Krylov solvers.

    Args:
        rtol: stop when ||r|| <= max(rtol * ||b||, atol).
        atol: absolute residual tolerance.
        max_iters: the cap K (>= 0). With rtol = atol = 0 exactly K iterations run.
    """

    rtol: float = 1e-8
    atol: float = 0.0
    max_iters: int = 1000
    name: ClassVar[str] = "krylov"
    symmetric_only: ClassVar[bool] = False

    def __post_init__(self) -> None:
        for key in ("rtol", "atol"):
            v = getattr(self, key)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{type(self).__name__}: {key} must be a finite number >= 0, got {v!r}")
        if not isinstance(self.max_iters, int) or self.max_iters < 0:
            raise ValueError(f"{type(self).__name__}: max_iters must be an int >= 0, got {self.max_iters!r}")

    @abc.abstractmethod
    def run(self, matvec: MatVec, precond: MatVec, b: torch.Tensor, x0: torch.Tensor):
        """Iterate on [B, n] tensors; returns (x, IterationState)."""


class IterationState:
    """Per-sample bookkeeping of a batched Krylov iteration."""

    def __init__(
        self,
        r0_norm: torch.Tensor,
        b_norm: torch.Tensor,
        solver: KrylovSolver,
        tol_reference: torch.Tensor | None = None,
    ):
        ref = b_norm if tol_reference is None else tol_reference
        self.tol = torch.clamp(solver.rtol * ref, min=solver.atol)
        self.check = solver.rtol > 0 or solver.atol > 0
        batch = r0_norm.shape[0]
        device = r0_norm.device
        # -1 = still running; set to a SolveStatus when a sample stops.
        self.status = torch.full((batch,), -1, dtype=torch.int64, device=device)
        self.n_iters = torch.zeros(batch, dtype=torch.int64, device=device)
        self.history = [r0_norm.detach()]
        self.stop_where(~torch.isfinite(r0_norm), SolveStatus.NONFINITE)
        self.stop_where(r0_norm <= self.tol, SolveStatus.CONVERGED)

    @property
    def active(self) -> torch.Tensor:
        return self.status < 0

    def stop_where(self, mask: torch.Tensor, status: SolveStatus) -> None:
        self.status = torch.where(mask & self.active, int(status), self.status)

    def stop_indefinite(self, pAp: torch.Tensor) -> None:
        """p^T A p <= 0 stops a sample as INDEFINITE, unless its residual is already at
        round-off (1e3 eps times the initial residual): there p^T A p of a tiny p can lose
        its sign on a positive definite matrix (a capped rtol = 0 run past convergence),
        and the sample has CONVERGED as far as the arithmetic allows."""
        r0, last = self.history[0], self.history[-1]
        at_roundoff = last <= 1e3 * torch.finfo(r0.dtype).eps * r0
        self.stop_where((pAp <= 0) & at_roundoff, SolveStatus.CONVERGED)
        self.stop_where(pAp <= 0, SolveStatus.INDEFINITE)

    def finished(self) -> bool:
        """True when no sample is running. Synchronises only when tolerances are set."""
        return self.check and not bool(self.active.any())

    def record(self, res_norm: torch.Tensor, counted: torch.Tensor) -> None:
        """Log one iteration: count it for `counted` samples, test their residuals."""
        self.n_iters = self.n_iters + counted.long()
        self.history.append(res_norm.detach())
        self.stop_where(counted & ~torch.isfinite(res_norm), SolveStatus.NONFINITE)
        self.stop_where(counted & (res_norm <= self.tol), SolveStatus.CONVERGED)

    def close(self) -> None:
        self.status = torch.where(self.active, int(SolveStatus.CAPPED), self.status)


def safe_div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den with 0 where den == 0 (masked samples must not make NaN)."""
    ok = den != 0
    return torch.where(ok, num / torch.where(ok, den, torch.ones_like(den)), torch.zeros_like(num))


def dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise inner product of [B, n] tensors -> [B], in one pass without a temporary
    (torch.dot / bmm read both operands once; (a * b).sum allocates an [B, n] product)."""
    if a.shape[0] == 1:
        return torch.dot(a[0], b[0]).reshape(1)
    return torch.bmm(a.unsqueeze(1), b.unsqueeze(2)).reshape(-1)
