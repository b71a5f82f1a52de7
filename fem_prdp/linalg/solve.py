"""`solve`: a capped, preconditioned Krylov solve that can be differentiated two ways.

- grad="unrolled": autograd records the K iterations; the gradient is exactly that of the
  truncated solver (memory grows with K).
- grad="implicit": a custom autograd function; the backward pass solves A^T lam = dL/dx with
  the same method, the transposed preconditioner and its own cap (`adjoint_solver`,
  default: the forward solver, i.e. the same K). Memory is flat in K, but for the
  directions a CG forward keeps to start the adjoint (`adjoint_start`, below).

The adjoint starts from zero, as in the PRDP paper, when it runs a fixed number of
iterations (rtol = atol = 0: its start would change the truncated gradient). When it solves
to a tolerance and the forward was CG in the torch loop or the fused AMG-PCG loop (which
record their search directions), it starts from the projection of
A lam = dL/dx onto the forward's search directions (`krylov.recycle`; A^T = A for CG),
which takes the same gradient in fewer iterations; the adjoint's `residual_history[0]`
is that start's residual.
"""

from __future__ import annotations

import time
from functools import cached_property

import torch

from . import native
from .amg import AMG
from .krylov._common import KrylovSolver, SolveInfo, SolveStatus
from .krylov.cg import CG
from .krylov.recycle import ConjugateDirections
from .krylov.richardson import Richardson
from .precond import IdentityPreconditioner, Jacobi, Preconditioner
from .records import report_solve
from .sparse import CSRPattern, SparseMatrix, pattern_outer, spmv, spmv_into

__all__ = ["solve"]

_GRAD_MODES = ("implicit", "unrolled")
_ADJOINT_STARTS = ("auto", "zero", "recycle")
# Forward CG directions kept for the adjoint's start: all of an AMG-preconditioned solve
# (20-30 iterations), the first 64 of a longer one (float32, 64 x 4 bytes per unknown).
_KEPT_DIRECTIONS = 64
_DRIFT = 100.0  # true / estimated residual factor beyond which a "converged" solve broke down


def _info(state, x, b, matvec, solver: KrylovSolver, seconds: float, loop: str) -> SolveInfo:
    with torch.no_grad():
        res = (b - matvec(x.detach())).norm(dim=-1)
        b_norm = b.detach().norm(dim=-1)
        status = state.status
        if solver.rtol > 0 or solver.atol > 0:
            # The loop stops on the method's own residual estimate. A true residual far above
            # the tolerance means the estimate drifted (a singular or inconsistent
            # preconditioner): never report that as CONVERGED.
            tol = torch.clamp(solver.rtol * b_norm, min=solver.atol)
            drifted = (status == int(SolveStatus.CONVERGED)) & ~(res <= _DRIFT * tol)
            status = torch.where(drifted, int(SolveStatus.BREAKDOWN), status)
    statuses = tuple(SolveStatus(int(s)) for s in status.tolist())
    return SolveInfo(
        status=max(statuses),
        statuses=statuses,
        n_iters=state.n_iters,
        residual_norm=res,
        rhs_norm=b_norm,
        residual_history=state.history if isinstance(state.history, torch.Tensor) else torch.stack(state.history),
        method=solver.name,
        max_iters=solver.max_iters,
        seconds=seconds,
        loop=loop,
    )


class _Operator:
    """x -> A x as a callable (differentiable) with an allocation-free `into(x, out)`.

    `into` on one vector multiplies a matrix symmetric to round-off from its diagonal and
    lower half (`CSRPattern.symmetric_layout(renumber=False)`, made once per pattern;
    `native.sym_residual`), ~60% of plain CSR's bytes: 1.3-1.5x faster than MKL's float64 product
    at 50k-512k nodes (experiments/RESULTS.md). A's values are put into that layout on the
    first such product of this operator (a forward solve's operator serves its adjoint
    too: `_ImplicitSolve`)."""

    def __init__(self, pattern: CSRPattern, values: torch.Tensor):
        self.pattern, self.values = pattern, values

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        return spmv(self.pattern, self.values, v)

    @cached_property
    def halves(self) -> tuple | None:
        """(layout, values in it) or None: `CSRPattern.symmetric_halves`, on first use."""
        return self.pattern.symmetric_halves(self.values)

    @cached_property
    def renumbered(self) -> tuple | None:
        """(layout, values in it) for the fused Jacobi loops: the pattern's renumbered
        `symmetric_layout()` and `SymmetricLayout.values`, on first use (a forward solve's
        operator serves its adjoint: one symmetry check and gather, not two); None when the
        pattern or the values (to round-off) are not symmetric."""
        layout = self.pattern.symmetric_layout()
        halves = None if layout is None else layout.values(self.values)
        return None if halves is None else (layout, halves)

    def into(self, v: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        if v.shape[0] == 1 and native.usable(v) and v.dtype == self.values.dtype and self.halves is not None:
            native.sym_residual(*self.halves, None, v[0], out=out[0])
            return out
        return spmv_into(self.pattern, self.values, v, out)


class _FusedState:
    """The end state of a fused native solve, shaped like `IterationState` for `_info` (the
    history already stacked, [steps + 1, B]: not split into a list to be stacked again)."""

    def __init__(self, status: torch.Tensor, n_iters: torch.Tensor, history: torch.Tensor):
        self.status, self.n_iters, self.history = status, n_iters, history


def _fused_amg(matvec: _Operator, b, x0, solver, precond, directions: ConjugateDirections | None):
    """(x, state) from the fused AMG-PCG loop (`native.MultigridCycle.cg`: CG's iteration
    and the cycle in one parallel region, its directions recorded into `directions`), or
    None where it does not apply: it takes CG on one float64 system whose matrix is
    multiplied from its symmetric layout, with an AMG whose cycle the kernels apply
    (smoothed aggregation, Chebyshev, CPU). Measured on 3D steady heat (the same
    iterations): forward 0.85x and backward 0.80x the time of the torch loop around the
    same fused cycle at 50k nodes, 0.88x / 0.92x at 205k (experiments/RESULTS.md)."""
    cycle = precond.fused_cycle if isinstance(precond, AMG) else None
    if (cycle is None or type(solver) is not CG or b.shape[0] != 1 or b.shape[1] != cycle.n
            or b.dtype != torch.float64 or not native.usable(b, x0, matvec.values)):
        return None
    halves = matvec.halves
    if halves is None or halves[1].dtype != torch.float64:
        return None
    tol = max(solver.rtol * float(torch.linalg.vector_norm(b)), solver.atol)
    record = directions.capacity - len(directions) if directions is not None else 0
    x, status, n_iters, history, blocks = cycle.cg(
        *halves, b[0], x0[0], solver.max_iters, tol, solver.rtol > 0 or solver.atol > 0, record)
    for block, curvatures in blocks:
        directions.extend(block[:, None, :], curvatures[:, None])
    status = int(SolveStatus.CAPPED) if status < 0 else status
    return x[None], _FusedState(torch.tensor([status]), torch.tensor([n_iters]), history[:, None])


def _fused(matvec: _Operator, b, x0, solver, precond):
    """(x, state) from a fused native loop (CG or Richardson with Jacobi or no
    preconditioner), or None where none applies (another method or preconditioner,
    autograd recording, GPU, no compiler)."""
    if type(solver) not in (CG, Richardson) or type(precond) not in (Jacobi, IdentityPreconditioner):
        return None
    pattern, values = matvec.pattern, matvec.values
    inv_diag = precond.inv_diag if type(precond) is Jacobi else None
    tensors = [b, values, x0] + ([inv_diag] if inv_diag is not None else [])
    if not native.usable(*tensors):
        return None
    tol = torch.clamp(solver.rtol * torch.linalg.vector_norm(b, dim=-1).double(), min=solver.atol)
    check = solver.rtol > 0 or solver.atol > 0
    if type(solver) is CG:
        layout, halves = matvec.renumbered or (None, None)  # None: the plain CSR loop, nothing checked again
        out = native.jacobi_cg(pattern.crow, pattern.col, values, inv_diag, b, x0, solver.max_iters, tol, check,
                               layout=layout, halves=halves)
    else:
        out = native.jacobi_richardson(pattern.crow, pattern.col, values, inv_diag, solver.omega, b, x0,
                                       solver.max_iters, tol, check)
    x, status, n_iters, history = out
    return x, _FusedState(status, n_iters, history)


def _run(matvec: _Operator, b, x0, solver, precond,
         directions: ConjugateDirections | None = None) -> tuple[torch.Tensor, SolveInfo]:
    """Solve on [B, n] tensors; a CG run in the torch loop or the fused AMG-PCG loop
    records its search directions into `directions` when given (the fused Jacobi loops
    record none)."""
    t0 = time.perf_counter()
    fused = _fused_amg(matvec, b, x0, solver, precond, directions)
    fused = fused if fused is not None else _fused(matvec, b, x0, solver, precond)
    if fused is not None:
        x, state = fused
    elif directions is not None:
        x, state = solver.run(matvec, precond, b, x0, directions)
    else:
        x, state = solver.run(matvec, precond, b, x0)
    return x, _info(state, x, b, matvec, solver, time.perf_counter() - t0, "torch" if fused is None else "fused")


# Derivation (x = A^-1 b, loss L(x)):
#   dL/db = A^-T dL/dx =: lam                      (one adjoint solve with A^T)
#   dL/dA = -lam x^T, kept on A's stored pattern:  dL/dvalues_k = -lam[row_k] * x[col_k]
#   dL/dx0 = 0 at convergence (the exact solution does not depend on the start).
# The adjoint's own start is free for the same reason when it converges: zero, or the
# projection onto the forward CG's directions (`directions`, see the module docstring).
# With a capped forward or adjoint solve these are approximations; the adjoint solve's
# own SolveInfo (residual included) is appended to the forward info's `adjoint` list.
class _ImplicitSolve(torch.autograd.Function):
    @staticmethod
    def forward(ctx, values, b, x0, pattern, solver, adjoint_solver, precond, check, recycle, holder):
        wanted = recycle and type(solver) is CG and (ctx.needs_input_grad[0] or ctx.needs_input_grad[1])
        directions = ConjugateDirections(_KEPT_DIRECTIONS) if wanted else None
        matvec = _Operator(pattern, values.detach())
        with torch.no_grad():
            x, info = _run(matvec, b, x0, solver, precond, directions)
        holder.append(info)
        ctx.pattern, ctx.adjoint_solver, ctx.precond, ctx.info = pattern, adjoint_solver, precond, info
        ctx.matvec = matvec if solver.symmetric_only else None  # A^T = A: the adjoint's operator
        ctx.directions = directions
        ctx.check = check
        ctx.symmetric = solver.symmetric_only
        ctx.save_for_backward(values, x)
        return x

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_x):
        values, x = ctx.saved_tensors
        pattern = ctx.pattern
        if ctx.symmetric:  # CG and MINRES solve symmetric systems only: A^T = A, no transpose
            matvec = ctx.matvec
        else:
            t, perm = pattern.transpose()
            matvec = _Operator(t, values[..., perm])
        start = torch.zeros_like(grad_x) if ctx.directions is None else ctx.directions.start(grad_x)
        ctx.directions = None  # the directions' memory goes now, not with the graph
        lam, adj_info = _run(matvec, grad_x, start, ctx.adjoint_solver, ctx.precond.transpose())
        ctx.info.adjoint.append(adj_info)
        if ctx.check:
            adj_info.check()
        grad_values = None
        if ctx.needs_input_grad[0]:
            grad_values = pattern_outer(pattern, lam, x, batched=values.ndim == 2).neg_()
        grad_b = lam if ctx.needs_input_grad[1] else None
        return grad_values, grad_b, None, None, None, None, None, None, None, None


def solve(
    A: SparseMatrix,
    b: torch.Tensor,
    solver: KrylovSolver | None = None,
    precond: Preconditioner | None = None,
    x0: torch.Tensor | None = None,
    *,
    grad: str = "implicit",
    adjoint_solver: KrylovSolver | None = None,
    adjoint_start: str = "auto",
    check: bool = False,
) -> tuple[torch.Tensor, SolveInfo]:
    """Solve A x = b with a Krylov method capped at `solver.max_iters`.

    Args:
        A: [n, n] `SparseMatrix`, values [nnz] or [B, nnz] (one matrix per sample).
        b: [n] or [B, n] float. Right-hand side(s); with a batched A an unbatched b is
            broadcast to every matrix.
        solver: CG (default), MINRES, GMRES or BiCGStab with rtol/atol/max_iters.
        precond: a `Preconditioner` (default: none).
        x0: start, shaped like b (default zeros, as in the PRDP paper).
        grad: "implicit" (adjoint solve in the backward pass) or "unrolled".
        adjoint_solver: solver (and cap) of the implicit backward solve; default `solver`.
        adjoint_start: where that solve starts: "zero"; "recycle", the projection onto the
            forward's CG directions (a CG forward in the torch loop or the fused AMG-PCG
            loop; after the fused Jacobi loops, zero); "auto"
            (default): "recycle" when the adjoint solver has a tolerance (rtol or atol > 0),
            "zero" when it runs exactly its cap (PRDP's K: the paper's gradient).
        check: raise `SolveError` on NONFINITE, BREAKDOWN or INDEFINITE, in this call and
            (grad="implicit") in the adjoint solve of the backward pass. Reaching the cap
            (CAPPED) never raises.

    Returns:
        (x shaped like b, SolveInfo). For grad="implicit" the adjoint solve's info is
        appended to `info.adjoint` when backward runs. The info also goes to every open
        `solve_records()` block (before `check` raises, so a block sees failed solves too).
    """
    solver = solver if solver is not None else CG()
    precond = precond if precond is not None else IdentityPreconditioner()
    if grad not in _GRAD_MODES:
        raise ValueError(f"solve: grad must be one of {_GRAD_MODES}, got {grad!r}")
    if adjoint_start not in _ADJOINT_STARTS:
        raise ValueError(f"solve: adjoint_start must be one of {_ADJOINT_STARTS}, got {adjoint_start!r}")
    if not isinstance(solver, KrylovSolver):
        raise TypeError(f"solve: solver must be a KrylovSolver (CG(), GMRES(), ...), got {solver!r}")
    n, m = A.shape
    if n != m:
        raise ValueError(f"solve: A must be square, got shape {A.shape}")
    if b.shape[-1] != n or b.ndim not in (1, 2):
        raise ValueError(
            f"solve: b has shape {tuple(b.shape)}, expected (n,) or (batch, n) with n = {n} to "
            "match A; did you forget to drop (or keep) Dirichlet rows?"
        )
    if b.dtype != A.dtype or b.device != A.device:
        raise ValueError(
            f"solve: b is {b.dtype} on {b.device} but A is {A.dtype} on {A.device}; "
            "move one with .to(device, dtype)"
        )
    squeeze = b.ndim == 1
    bb = b.unsqueeze(0) if squeeze else b
    if A.batch_size is not None:
        if bb.shape[0] == 1:
            bb = bb.expand(A.batch_size, n)
        elif bb.shape[0] != A.batch_size:
            raise ValueError(f"solve: b has batch {bb.shape[0]} but A has batch {A.batch_size}")
        squeeze = False
    if x0 is None:
        xx0 = torch.zeros_like(bb)
    else:
        if x0.shape[-1] != n:
            raise ValueError(f"solve: x0 has shape {tuple(x0.shape)}, expected shape of b")
        xx0 = (x0.unsqueeze(0) if x0.ndim == 1 else x0).expand_as(bb)
    adjoint_solver = adjoint_solver if adjoint_solver is not None else solver

    if grad == "unrolled" or not torch.is_grad_enabled():
        x, info = _run(_Operator(A.pattern, A.values), bb, xx0, solver, precond)
    else:
        holder: list[SolveInfo] = []
        recycle = adjoint_start == "recycle" or (
            adjoint_start == "auto" and (adjoint_solver.rtol > 0 or adjoint_solver.atol > 0))
        x = _ImplicitSolve.apply(A.values, bb, xx0, A.pattern, solver, adjoint_solver, precond, check, recycle,
                                 holder)
        info = holder[0]
    report_solve(info)
    if check:
        info.check()
    return (x[0] if squeeze else x), info
