"""Preconditioners: objects with `apply(r) -> z` (r, z: [B, n]) and `transpose()`.

Jacobi keeps gradients to the matrix values (so an unrolled solve differentiates through
it); Chebyshev, SSOR and ILU(0) (and AMG, in `amg.py`) are built from detached values and
act as fixed linear maps.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import torch

from .sparse import CSRPattern, SparseMatrix

__all__ = [
    "Preconditioner",
    "IdentityPreconditioner",
    "Jacobi",
    "Chebyshev",
    "chebyshev_iteration",
    "SSOR",
    "ILU0",
    "jacobi",
]


class Preconditioner:
    """z = M^-1 r on [B, n] tensors; `transpose()` gives the map of M^-T."""

    def apply(self, r: torch.Tensor) -> torch.Tensor:
        return r

    def apply_into(self, r: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """out = M^-1 r without autograd (solvers' in-place fast path)."""
        return out.copy_(self.apply(r))

    def transpose(self) -> Preconditioner:
        return self

    def __call__(self, r: torch.Tensor) -> torch.Tensor:
        return self.apply(r)


class IdentityPreconditioner(Preconditioner):
    """No preconditioning."""


class Jacobi(Preconditioner):
    """z = D^-1 r. Differentiable in A's values. A zero diagonal entry is an error."""

    def __init__(self, A: SparseMatrix):
        diag = A.diagonal()
        if bool((diag == 0).any()):
            rows = torch.nonzero((diag == 0).reshape(-1, diag.shape[-1]).any(0)).reshape(-1)[:10]
            raise ValueError(
                f"Jacobi: zero diagonal in rows {rows.tolist()}; Jacobi needs a non-zero "
                "diagonal (use a block preconditioner for saddle-point systems)"
            )
        self.inv_diag = 1.0 / diag

    def apply(self, r):
        return r * self.inv_diag

    def apply_into(self, r, out):
        return torch.mul(r, self.inv_diag, out=out)


def jacobi(A: SparseMatrix) -> Jacobi:
    return Jacobi(A)


def chebyshev_iteration(A: SparseMatrix, inv_d: torch.Tensor, interval: tuple[float, float], degree: int,
                        r: torch.Tensor, x: torch.Tensor | None = None,
                        residual: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """x + p(D^-1 A) D^-1 (r - A x) (x None: zero): `degree` steps of the Chebyshev
    iteration for A x = r preconditioned by the diagonal D (inv_d = 1 / diag), tuned to the
    eigenvalue interval [lower, upper] of D^-1 A (Saad, Iterative Methods, Alg. 12.1). A
    fixed polynomial: a linear map of r, symmetric when A is. r, x: [B, n] (or [n] with a
    `residual`: v -> r - A v, which a caller with a cheaper form of it passes).

    Each step forms the true residual r - A x and updates the direction as
    a_k d + c_k D^-1 (r - A x) in one fused multiply-add: four vector passes a step, the
    fewest for this recurrence (the V-cycle spends most of its time here)."""
    lower, upper = interval
    theta, delta = (upper + lower) / 2, (upper - lower) / 2
    sigma = theta / delta
    rho = 1.0 / sigma
    d = None
    for _ in range(degree):
        res = r if x is None else (residual(x) if residual is not None else r - A.matvec(x))
        if d is None:
            d = torch.mul(inv_d, res).div_(theta)  # in place on a fresh temporary: autograd-safe
        else:
            rho_next = 1.0 / (2.0 * sigma - rho)
            d = d.mul(rho_next * rho).addcmul_(inv_d, res, value=2.0 * rho_next / delta)
            rho = rho_next
        x = d if x is None else x + d
    return x


class Chebyshev(Preconditioner):
    """z = p(D^-1 A) D^-1 r: a fixed number of Chebyshev steps for A z = r, for a symmetric
    positive definite A whose Jacobi-scaled spectrum is known, such as a P1 mass matrix:
    D^-1 M has its eigenvalues in [1/2, (d + 2) / 2] on simplices in d dimensions (Wathen
    1987), so degree 3 cuts the error by 13x in 2D, where plain Jacobi is off by up to 2x.

    Args:
        A: SPD matrix, one sample (values [nnz]); interval: (lower, upper) bounds of the
            eigenvalues of D^-1 A; degree: matrix products per application, minus one.
    """

    def __init__(self, A: SparseMatrix, interval: tuple[float, float], degree: int = 3):
        lower, upper = interval
        if not 0 < lower < upper:
            raise ValueError(f"Chebyshev: the interval must satisfy 0 < lower < upper, got {interval}")
        if degree < 1:
            raise ValueError(f"Chebyshev: degree must be >= 1, got {degree}")
        self.A = A.with_values(A.values.detach())
        self.inv_d, self.interval, self.degree = 1.0 / self.A.diagonal(), (float(lower), float(upper)), degree

    def apply(self, r):
        return chebyshev_iteration(self.A, self.inv_d, self.interval, self.degree, r)


def _triangular_solve(L: SparseMatrix, r: torch.Tensor, upper: bool) -> torch.Tensor:
    """Solve L z = r for r [B, n] with a sparse triangular L (shared or batched)."""
    if L.values.ndim == 1:
        rhs = r.T.contiguous()
        csr = L.pattern.csr_tensor(L.values)
        return torch.triangular_solve(rhs, csr, upper=upper).solution.T
    big = L.pattern.batched(L.values.shape[0])
    csr = big.csr_tensor(L.values.reshape(-1))
    return torch.triangular_solve(r.reshape(-1, 1), csr, upper=upper).solution.reshape(r.shape)


def _split(A: SparseMatrix, keep) -> SparseMatrix:
    row, col = A.pattern.row_indices(), A.pattern.col.long()
    sel = torch.nonzero(keep(row, col)).reshape(-1)
    pattern, _ = CSRPattern.from_coo(row[sel].cpu(), col[sel].cpu(), A.shape, device=A.device)
    return SparseMatrix(pattern, A.values.detach()[..., sel])


class SSOR(Preconditioner):
    """Symmetric SOR: M = w/(2-w) (D/w + L) (D/w)^-1 (D/w + U). Sparse triangular solves
    (MKL / cuSPARSE) on fixed (detached) values."""

    def __init__(self, A: SparseMatrix, omega: float = 1.0):
        if not 0 < omega < 2:
            raise ValueError(f"SSOR: omega must lie in (0, 2), got {omega}")
        self.A, self.omega = A, omega
        d = A.diagonal().detach()
        if bool((d == 0).any()):
            raise ValueError("SSOR: zero diagonal entry; SSOR needs a non-zero diagonal")
        slots = A.pattern.diagonal_slots()
        scale = torch.ones_like(A.values.detach())
        scale[..., slots] = 1.0 / omega
        scaled = A.with_values(A.values.detach() * scale)
        self.lower = _split(scaled, lambda r, c: c <= r)
        self.upper = _split(scaled, lambda r, c: c >= r)
        self.d_over_w = d / omega

    def apply(self, r):
        y = _triangular_solve(self.lower, r, upper=False)
        y = y * self.d_over_w
        return _triangular_solve(self.upper, y, upper=True) * ((2 - self.omega) / self.omega)

    def transpose(self):
        return SSOR(self.A.T, self.omega)


def _ilu0_values(A: sp.csr_matrix) -> np.ndarray:
    """ILU(0) factors stored on A's own pattern (L unit lower, U upper), row by row."""
    A = A.tocsr().astype(np.float64)
    A.sort_indices()
    indptr, indices, data = A.indptr, A.indices, A.data.copy()
    diag_pos = np.full(A.shape[0], -1)
    for i in range(A.shape[0]):
        lo, hi = indptr[i], indptr[i + 1]
        cols = indices[lo:hi]
        pos = lo + np.searchsorted(cols, i)
        if pos >= hi or indices[pos] != i:
            raise ValueError(f"ILU0: row {i} has no stored diagonal entry")
        diag_pos[i] = pos
        for kk in range(lo, pos):  # entries left of the diagonal, in column order
            k = indices[kk]
            if data[diag_pos[k]] == 0:
                raise ValueError(f"ILU0: zero pivot in row {k}; the matrix needs pivoting")
            data[kk] /= data[diag_pos[k]]
            klo, khi = diag_pos[k] + 1, indptr[k + 1]
            kcols = indices[klo:khi]
            common, ia, ib = np.intersect1d(cols, kcols, assume_unique=True, return_indices=True)
            mask = common > k
            data[lo + ia[mask]] -= data[kk] * data[klo + ib[mask]]
    return data


class ILU0(Preconditioner):
    """Incomplete LU with zero fill on A's pattern (for SPD matrices it is IC(0) in LU form:
    U = D L^T). Factorised once with scipy index arithmetic; applied with sparse triangular
    solves in torch. Unbatched matrices only."""

    def __init__(self, A: SparseMatrix):
        if A.values.ndim != 1:
            raise ValueError("ILU0: batched matrices are not supported; build one per sample")
        self.A = A
        lu = A.with_values(torch.as_tensor(_ilu0_values(A.to_scipy()), dtype=A.dtype, device=A.device))
        unit = torch.ones_like(lu.values)
        self.lower = _split(lu, lambda r, c: c <= r)
        slots = self.lower.pattern.diagonal_slots()
        vals = self.lower.values.clone()
        vals[slots] = unit[: len(slots)]
        self.lower = self.lower.with_values(vals)
        self.upper = _split(lu, lambda r, c: c >= r)

    def apply(self, r):
        return _triangular_solve(self.upper, _triangular_solve(self.lower, r, upper=False), upper=True)

    def transpose(self):
        return _TransposedFactors(self.upper.T, self.lower.T)


class _TransposedFactors(Preconditioner):
    """(LU)^-T = L^-T U^-T: solve with U^T (lower) then L^T (upper)."""

    def __init__(self, ut: SparseMatrix, lt: SparseMatrix):
        self.ut, self.lt = ut, lt

    def apply(self, r):
        return _triangular_solve(self.lt, _triangular_solve(self.ut, r, upper=False), upper=True)
