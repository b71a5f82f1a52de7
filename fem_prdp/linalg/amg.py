"""Algebraic multigrid: a hierarchy built on the CPU (`aggregation`: pyamg's smoothed
aggregation with threaded products; pyamg's AIR), its V-cycle applied in torch (so it runs
on the device of the matrix and inside the Krylov loops without a trip through scipy), or
on the CPU, for one vector and Chebyshev smoothing, in one call of the fused kernels
(`native.MultigridCycle`: the same passes without ~20 library calls a level).

Two hierarchies, for two kinds of matrix:

- "smoothed_aggregation" for symmetric positive definite ones (diffusion, the pressure
  Laplacian): damped-Jacobi or Chebyshev pre- and post-smoothing. Chebyshev (a degree-d
  polynomial in D^-1 A that damps its eigenvalues in [0.15 rho, 1.1 rho], rho estimated per
  level at set-up) costs d matrix products per sweep, like d Jacobi sweeps, and needs about
  40% fewer CG iterations on 3D diffusion with jumping coefficients (experiments/RESULTS.md).
- "air", approximate ideal restriction (Manteuffel, Ruge & Southworth 2018), for
  nonsymmetric ones where convection matters (the velocity block of an Oseen system):
  pyamg's `air_solver` with its cycle, no pre-smoothing and Jacobi post-smoothing on the
  fine (F) points twice, then once on the coarse (C) points. Measured on the DFG channel
  at Re 20 (experiments/RESULTS.md): smoothed aggregation on the convection-diffusion
  block needs ~5x the outer GMRES iterations AIR does; AIR's stationary cycle contracts
  the error by ~0.33 per cycle there.

The cycle is a V-cycle, or a W-cycle (`cycle`: each smoothed coarse level solved by two
steps of its own cycle) where the first coarse level is large: on 3D steady heat at 512k
nodes (19,683 rows on level 1) that took CG from 28 to 24 iterations for about a tenth more
matrix entries read per cycle, while at 50k it cost more in calls than it saved
(experiments/RESULTS.md).

The coarsest level is solved with a dense inverse, or with the pseudo-inverse (pyamg's
default) when that matrix is singular: eliminated Dirichlet rows can form aggregates whose
coarse rows are zero.

Mixed precision: a smoothed-aggregation cycle of a symmetric float64 matrix is stored and
applied in float32 (`cycle_dtype="auto"`); the Krylov iteration around it stays in float64
and sets the accuracy (GMRES is flexible for that reason). A preconditioner only has to
approximate A^-1, and in float32 it moves ~60% of the bytes. Measured on 3D steady heat
(experiments/RESULTS.md): CG to rtol 1e-10 took as many iterations (27 vs 28, 29 vs 31 at
205k and 512k nodes) and the cycle 1.6-1.8x less time.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from . import native
from .aggregation import smoothed_aggregation
from .precond import Preconditioner, chebyshev_iteration
from .sparse import SparseMatrix
from .symmetric import SymmetricLayout

__all__ = ["AMG"]

_KINDS = ("smoothed_aggregation", "air")
_CYCLE_DTYPES = {"auto": None, "float32": torch.float32, "float64": torch.float64}
_SMOOTHERS = ("auto", "jacobi", "chebyshev")
_CYCLES = ("auto", "V", "W")
# "auto" takes the W-cycle for smoothed aggregation when the first coarse level has at least
# this many rows. Measured on 3D steady heat (experiments/RESULTS.md), CG to rtol 1e-10,
# W against V: 28 -> 24 iterations and 0.83x the solve time at 512k nodes (19,683 rows on
# level 1), 0.93x at 205k (8,000), 0.98x at 104k (4,096); 1.08x at 50k (2,197) and 1.06x at
# 12k (512), where the second pass over a small level costs more in calls than it saves.
_W_CYCLE_ROWS = 4000
# The interval of D^-1 A's spectrum a Chebyshev smoother damps, as fractions of its
# estimated spectral radius: the upper end with a margin for the estimate, the lower one
# leaves the smooth error to the coarse grid. PETSc's default [0.1, 1.1] needed 7-47% fewer
# CG iterations than [1/30, 1.1] on 2D and 3D Laplacians and jumping-coefficient diffusion
# (72 to 12k unknowns); a lower end of 0.15 took as many or one fewer than 0.1 on every
# system measured (3D steady heat at 12k-512k nodes: 19 / 21 / 23 / 23 instead of 19 / 22 /
# 23 / 24; jumping diffusion in 2D and 3D and a 2D Laplacian: 17 / 12 / 11 instead of
# 18 / 13 / 12), 0.12-0.2 no better anywhere (experiments/RESULTS.md).
_CHEBYSHEV_INTERVAL = (0.15, 1.1)
# The largest coarsest level, solved by its dense inverse (one dense product a cycle), of a
# Chebyshev-smoothed hierarchy (a symmetric A). At 12k nodes of 3D steady heat 1000 keeps
# the 512-row first coarse level as the coarsest instead of coarsening it once more: 20 ->
# 19 CG iterations for ~10 ms more set-up, the same solve time; the larger systems coarsen
# past 1000 rows either way. The others (Jacobi smoothing of a nonsymmetric block, AIR) keep
# 500: they are rebuilt every time step or Picard pass of a Navier-Stokes solve, where a
# larger dense inverse would be paid each time.
_MAX_COARSE = 1000
_MAX_COARSE_OTHERS = 500


class AMG(Preconditioner):
    """One multigrid V-cycle, z = B r, a fixed linear map built from A's detached values.

    Args:
        A: square matrix, one sample (values [nnz]).
        kind: "smoothed_aggregation" (SPD matrices) or "air" (nonsymmetric, convection).
        presmooth, postsmooth: smoothing sweeps before / after the coarse correction
            (defaults: 1 / 1 for smoothed aggregation; 0 / 1 for AIR, where one sweep is
            two F-point and one C-point Jacobi passes).
        omega: Jacobi damping (defaults 2/3 for smoothed aggregation, 1 for AIR).
        max_coarse: largest coarsest level, solved densely (default 1000 rows with
            Chebyshev smoothing, else 500).
        smoother: "chebyshev" or "jacobi", for smoothed aggregation; "auto" (default) takes
            Chebyshev for a symmetric A and Jacobi otherwise (a Chebyshev polynomial damps a
            real spectrum: on an Oseen velocity block with convection it made GMRES stall).
            AIR keeps its F/C Jacobi passes. degree: the Chebyshev polynomial's degree.
        cycle_dtype: "auto" (float32 for smoothed aggregation of a symmetric A, else A's
            dtype), "float32" or "float64": the precision the hierarchy is stored and the
            cycle applied in; `apply` returns A's dtype either way. A float32 cycle is linear
            only up to its rounding: CG, MINRES, BiCGStab and (flexible) GMRES take it.
        cycle: "V", "W" or "auto" (default: W for smoothed aggregation when the first coarse
            level has at least 4000 rows, else V). In the W-cycle each smoothed coarse level
            is solved by two steps of its own cycle instead of one (the dense coarsest level
            once): a symmetric map when the V-cycle is, more work on the coarse levels and
            fewer Krylov iterations where those levels are large.

    In A's dtype the finest level shares A's (detached) values instead of copying them: a
    matrix whose values are later changed in place changes the cycle too (nothing in
    fem_prdp does that). In float32 it keeps a float32 copy on A's pattern.
    `transpose()` is the cycle itself for smoothed aggregation (symmetric A); for AIR it is
    an AIR cycle built from A^T (used by adjoint solves), made on first use.
    """

    def __init__(
        self,
        A: SparseMatrix,
        presmooth: int | None = None,
        postsmooth: int | None = None,
        omega: float | None = None,
        max_coarse: int | None = None,
        kind: str = "smoothed_aggregation",
        smoother: str = "auto",
        degree: int = 2,
        cycle_dtype: str = "auto",
        cycle: str = "auto",
    ):
        import pyamg

        if kind not in _KINDS:
            raise ValueError(f"AMG: kind must be one of {_KINDS}, got {kind!r}")
        if smoother not in _SMOOTHERS:
            raise ValueError(f"AMG: smoother must be one of {_SMOOTHERS}, got {smoother!r}")
        if degree < 1:
            raise ValueError(f"AMG: the Chebyshev degree must be >= 1, got {degree}")
        if cycle_dtype not in _CYCLE_DTYPES:
            raise ValueError(f"AMG: cycle_dtype must be one of {tuple(_CYCLE_DTYPES)}, got {cycle_dtype!r}")
        if cycle not in _CYCLES:
            raise ValueError(f"AMG: cycle must be one of {_CYCLES}, got {cycle!r}")
        if A.values.ndim != 1:
            raise ValueError("AMG: batched matrices are not supported; build one per sample")
        air = kind == "air"
        scipy_A = A.to_scipy().tocsr()
        symmetric = not air and (smoother == "auto" or cycle_dtype == "auto") and _symmetric(A)
        if smoother == "auto":
            smoother = "chebyshev" if symmetric else "jacobi"
        elif air:
            smoother = "jacobi"
        if max_coarse is None:
            max_coarse = _MAX_COARSE if smoother == "chebyshev" else _MAX_COARSE_OTHERS
        self.kind, self.A, self.max_coarse, self.smoother, self.degree = kind, A, max_coarse, smoother, degree
        self.cycle_dtype = cycle_dtype
        dt = _CYCLE_DTYPES[cycle_dtype] or (torch.float32 if symmetric else A.dtype)
        self.pre = (0 if air else 1) if presmooth is None else presmooth
        self.post = 1 if postsmooth is None else postsmooth
        self.omega = (1.0 if air else 2.0 / 3.0) if omega is None else omega
        if air:
            hierarchy = pyamg.air_solver(scipy_A, max_coarse=max_coarse).levels
        else:
            hierarchy = smoothed_aggregation(scipy_A, max_coarse)
        dev = A.device
        self.levels = []
        for depth, lvl in enumerate(hierarchy[:-1]):
            Al = SparseMatrix.from_scipy(lvl.A, dtype=dt, device=dev) if depth else self._fine(lvl.A, dt)
            P, R = (SparseMatrix.from_scipy(M, dtype=dt, device=dev) for M in (lvl.P, lvl.R))
            A_csr, P_csr, R_csr = (M.pattern.csr_tensor(M.values) for M in (Al, P, R))
            inv_d = 1.0 / Al.diagonal()
            # Per sweep, the masks of the points it updates: all of them, or F twice then C.
            # For Chebyshev, the interval it damps instead (from D^-1 A's spectral radius).
            if air:
                coarse = torch.as_tensor(lvl.splitting, dtype=torch.bool, device=dev)
                masks = [(~coarse).to(dt), (~coarse).to(dt), coarse.to(dt)]
            elif smoother == "chebyshev":
                masks = _chebyshev_interval(A_csr, inv_d)
            else:
                masks = [None]
            self.levels.append(_Level(Al, inv_d, masks, P, R, A_csr, P_csr, R_csr))
        # inverted in float64 whatever the cycle's precision: its check needs a 1e-8 residual
        coarse = torch.as_tensor(hierarchy[-1].A.toarray(), dtype=torch.float64, device=dev)
        self.coarse_inv = _coarse_inverse(coarse).to(dt)
        self.dtype = dt
        self.cycle = cycle
        self.w_cycle = cycle == "W" or (cycle == "auto" and not air and len(self.levels) > 1
                                        and self.levels[1].A.shape[0] >= _W_CYCLE_ROWS)
        if not air:
            self.levels = [self._with_layout(level, symmetric) for level in self.levels]
        self._native = self._native_cycle()
        self._transpose = None

    def _fine(self, level_matrix, dtype: torch.dtype) -> SparseMatrix:
        """The finest level's matrix on A's pattern when pyamg kept it, as it does: A's
        detached values themselves in A's dtype (no copy: at 512k nodes that is 60 MB), else
        their copy in `dtype`. Another pattern: pyamg's matrix, converted."""
        crow, col = self.A.pattern.crow, self.A.pattern.col
        if (level_matrix.nnz == col.numel() and np.array_equal(level_matrix.indptr, crow.cpu().numpy())
                and np.array_equal(level_matrix.indices, col.cpu().numpy())):
            return self.A.with_values(self.A.values.detach().to(dtype))
        return SparseMatrix.from_scipy(level_matrix, dtype=dtype, device=self.A.device)

    def _with_layout(self, level: _Level, symmetric: bool) -> _Level:
        """The level with its matrix's values also in the diagonal-and-lower-half layout of
        its own numbering (`CSRPattern.symmetric_layout(renumber=False)`, made once per
        pattern), through which its products on one vector go (`native.sym_residual`):
        ~60% of plain CSR's bytes, 1.2-1.3x faster than the library's product at 50k-512k
        nodes in float32 (experiments/RESULTS.md); on the Galerkin levels, denser (38
        entries a row on the 8,000-row level of 3D steady heat at 205k nodes), about half
        the entries read. The level as it is where the kernels or the layout do not apply
        (GPU, no diagonal, values not symmetric to round-off in the cycle's precision).
        symmetric: A was found symmetric to 1e-12 (its float32 copy on A's pattern then is
        to rounding, not checked again)."""
        checked = symmetric and level.A.pattern is self.A.pattern
        halves = level.A.pattern.symmetric_halves(level.A.values, checked=checked)
        return level if halves is None else level._replace(layout=halves)

    def _native_cycle(self) -> native.MultigridCycle | None:
        """The cycle laid out for the fused kernel (`native.MultigridCycle`), which applies it
        to one vector in one call: at 50k nodes the torch cycle spends about as long in its
        ~20 calls a level as in its matrix products (experiments/RESULTS.md). None where
        the kernels do not apply (GPU, no kernels, AIR or Jacobi smoothing)."""
        if self.kind != "smoothed_aggregation" or self.smoother != "chebyshev" or not native.usable(self.coarse_inv):
            return None
        levels = []
        for level in self.levels:
            if level.layout is not None:
                layout, halves = level.layout
                A = (layout.crow, layout.mid, layout.col, halves, layout.parts)
            else:
                A = (level.A.pattern.crow, None, level.A.pattern.col, level.A.values.contiguous(), 0)
            P, R = ((M.pattern.crow, M.pattern.col, M.values.contiguous()) for M in (level.P, level.R))
            levels.append((A, level.inv_d.contiguous(), level.masks, P, R))
        return native.MultigridCycle(levels, self.coarse_inv.contiguous(), self.degree, self.pre, self.post,
                                     self.w_cycle)

    def _smooth(self, level: _Level, r: torch.Tensor, x: torch.Tensor | None, sweeps: int) -> torch.Tensor | None:
        if self.smoother == "chebyshev":
            for _ in range(sweeps):
                # The same polynomial before and after the coarse correction keeps the
                # V-cycle symmetric, as CG needs.
                x = chebyshev_iteration(level.A, level.inv_d, level.masks, self.degree, r, x,
                                        residual=lambda v: level.residual(r, v))
            return x
        for _ in range(sweeps):
            for mask in level.masks:
                step = self.omega * level.inv_d * (r if x is None else level.residual(r, x))
                step = step if mask is None else step * mask
                x = step if x is None else x + step
        return x

    def _cycle(self, depth: int, r: torch.Tensor) -> torch.Tensor:
        """The V-cycle from level `depth` on r: [n] (one vector: each product is one
        library call on the level's stored CSR tensor, each residual one fused r - A x) or
        [B, n] (one pass over each matrix for all B, `SparseMatrix.matvec`)."""
        if depth == len(self.levels):
            return r @ self.coarse_inv.T
        level = self.levels[depth]
        x = self._smooth(level, r, None, self.pre)
        coarse_r = _product(level.R, level.R_csr, r if x is None else level.residual(r, x))
        correction = _product(level.P, level.P_csr, self._coarse_solve(depth + 1, coarse_r))
        x = correction if x is None else x + correction
        return self._smooth(level, r, x, self.post)

    def _coarse_solve(self, depth: int, r: torch.Tensor) -> torch.Tensor:
        """Level `depth`'s approximation of A_depth^-1 r: its cycle, or in a W-cycle (above
        the dense coarsest level) two steps of it as a stationary iteration from zero,
        e = B r + B (r - A B r), whose error propagation is the square of the cycle's."""
        e = self._cycle(depth, r)
        if self.w_cycle and depth < len(self.levels):
            level = self.levels[depth]
            e = e + self._cycle(depth, level.residual(r, e))
        return e

    def apply(self, r):
        if self._takes_native(r):
            return self._native.apply_into(r[0], torch.empty_like(r)[0])[None]
        rr = r.to(self.dtype)
        # one right-hand side runs on 1-D vectors: fewer torch calls (a 12k-node solve 10% faster)
        return (self._cycle(0, rr[0])[None] if rr.shape[0] == 1 else self._cycle(0, rr)).to(r.dtype)

    def apply_into(self, r: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        if self._takes_native(r) and out.dtype == r.dtype and out.is_contiguous():
            self._native.apply_into(r[0], out[0])
            return out
        return super().apply_into(r, out)

    def _takes_native(self, r: torch.Tensor) -> bool:
        """One vector r [1, n] (float64 or the cycle's dtype) the fused cycle can take."""
        return (self._native is not None and r.shape[0] == 1 and r.is_contiguous()
                and r.dtype in (torch.float64, self.dtype) and native.usable(r))

    def transpose(self) -> Preconditioner:
        if self.kind == "smoothed_aggregation":
            return self
        if self._transpose is None:
            self._transpose = AMG(self.A.T, self.pre, self.post, self.omega, self.max_coarse, kind=self.kind,
                                  smoother=self.smoother, degree=self.degree, cycle_dtype=self.cycle_dtype,
                                  cycle=self.cycle)
        return self._transpose

    @property
    def fused_cycle(self) -> native.MultigridCycle | None:
        """The cycle laid out for the fused kernels (`native.MultigridCycle`; `solve` runs
        CG around it in one kernel too), or None where they do not apply."""
        return self._native

    @property
    def n_levels(self) -> int:
        """Levels of the hierarchy, the dense coarsest one included."""
        return len(self.levels) + 1


class _Level(NamedTuple):
    """One smoothed level: its matrix, 1 / diag, the smoother's interval (Chebyshev) or
    per-sweep masks (Jacobi, AIR's F/C passes), the prolongation and restriction, and the
    three matrices' CSR tensors, made once (the products on one vector use them directly).
    A level of a symmetric A may also hold `layout`, its matrix's `SymmetricLayout` and its
    values in it, through which the products on one vector go (`AMG._with_layout`)."""

    A: SparseMatrix
    inv_d: torch.Tensor
    masks: tuple[float, float] | list
    P: SparseMatrix
    R: SparseMatrix
    A_csr: torch.Tensor
    P_csr: torch.Tensor
    R_csr: torch.Tensor
    layout: tuple[SymmetricLayout, torch.Tensor] | None = None

    def residual(self, r: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """r - A x: for x [n] one library call, or one fused pass over the layout's halves;
        for [B, n] one pass over A for all B."""
        if x.ndim == 1:
            if self.layout is not None and not (torch.is_grad_enabled() and (r.requires_grad or x.requires_grad)):
                return native.sym_residual(*self.layout, r, x)
            return torch.addmv(r, self.A_csr, x, alpha=-1.0)
        return r - self.A.matvec(x)


def _product(M: SparseMatrix, csr: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """M x for x [n] (the stored CSR tensor) or [B, n]."""
    return csr @ x if x.ndim == 1 else M.matvec(x)


def _chebyshev_interval(A: torch.Tensor, inv_d: torch.Tensor, steps: int = 10) -> tuple[float, float]:
    """[lower, upper] of a Chebyshev smoother: fractions of the spectral radius of D^-1 A,
    estimated by power iteration from a seeded start (reproducible), with the Rayleigh
    quotient v^T A v / v^T D v, accurate to the square of the iterate's error (D^-1 A is
    self-adjoint in the D inner product for symmetric A). Against pyamg's Arnoldi estimate
    (which forms D^-1 A): the same CG iterations at 50k and 205k nodes. 10 steps, 20 and
    6 gave the same CG iterations on five matrices (3D steady heat at 50k and 205k nodes,
    2D and 3D jumping diffusion, a 2D Laplacian); at 512k nodes 10 fewer steps are 0.05 s
    of set-up. A: the level's CSR tensor."""
    v = torch.rand(A.shape[0], dtype=A.dtype, generator=torch.Generator().manual_seed(0)).to(A.device)
    for _ in range(steps):
        v = inv_d * (A @ v)
        v = v / torch.linalg.vector_norm(v)
    rho = float(v @ (A @ v) / (v @ (v / inv_d)))
    return _CHEBYSHEV_INTERVAL[0] * rho, _CHEBYSHEV_INTERVAL[1] * rho


def _coarse_inverse(C: torch.Tensor) -> torch.Tensor:
    """The coarsest level's inverse: LU-based when C is invertible to working precision
    (checked on a random right-hand side: relative residual <= 1e-8), else the
    pseudo-inverse (pyamg's default), for coarse matrices left singular by eliminated
    Dirichlet rows. The pseudo-inverse's SVD took 95 ms of a 190 ms Navier-Stokes step at
    ~450 coarse unknowns (AIR is rebuilt each Picard pass); the inverse takes ~5. An explicit
    inverse, not a factorisation: a V-cycle applies it ~100 times per solve, and one dense
    product is cheaper than two triangular solves at these sizes."""
    inverse, info = torch.linalg.inv_ex(C)
    if int(info) == 0:
        b = torch.rand(C.shape[0], dtype=C.dtype, generator=torch.Generator().manual_seed(0)).to(C.device)
        if bool(torch.isfinite(inverse).all()) and float((C @ (inverse @ b) - b).norm() / b.norm()) <= 1e-8:
            return inverse
    return torch.linalg.pinv(C, hermitian=bool(torch.allclose(C, C.T)))


def _symmetric(A: SparseMatrix) -> bool:
    """A equals its transpose to round-off, |a_ij - a_ji| <= 1e-12 max|a|."""
    values = A.values.detach()
    tol = 1e-12 * float(torch.linalg.vector_norm(values, ord=float("inf"))) if values.numel() else 0.0
    if native.usable(values):  # one pass and no transpose: 5x faster, no memory at 512k nodes
        return native.csr_symmetric(A.pattern.crow, A.pattern.col, values, tol)
    t, perm = A.pattern.transpose()
    if not (torch.equal(t.crow, A.pattern.crow) and torch.equal(t.col, A.pattern.col)):
        return False
    return bool((values - values[perm]).abs().max() <= tol) if values.numel() else True
