"""The smoothed-aggregation hierarchy of a symmetric matrix: pyamg's method, its products
threaded.

pyamg's set-up is single-threaded, and on the steady-heat systems of `bench peers` most of
it is sparse products (prolongation smoothing and the Galerkin product, through 1x1-block
BSR matrices: 0.29 of its 0.42 s at 512k nodes). Here each level takes pyamg's own
aggregation (`amg_core.standard_aggregation`), and the fused kernels do the rest with rows
in parallel: the smoothed prolongator in one pass (`native.sa_prolongator`) and the Galerkin
product as R (A P) (`native.csr_spgemm`). Set-up 0.19 -> 0.10 s at 205k nodes and
0.44 -> 0.27 s at 512k, the same CG iterations (experiments/RESULTS.md). The finest level
equals pyamg's to round-off; below it the aggregation breaks ties by column order, which
differs (our rows are sorted), so the coarse levels differ, not their quality (tested).
Without the kernels the whole hierarchy is pyamg's.

The settings, measured on the 3D steady-heat systems (experiments/RESULTS.md):
- No strength-of-connection filter (pyamg's default, theta = 0, keeps every stored entry, so
  the aggregates are the same) and no Gauss-Seidel improvement of the constant near-nullspace
  candidate: 0.62 -> 0.36 s of pyamg's set-up at 512k nodes, CG iterations equal (28, V-cycle).
- Jacobi prolongation smoothing, omega = 4/3, weighted row by row on the finest level (the
  Gershgorin sum of |a_ij|) instead of by an estimate of rho(D^-1 A): pyamg's Arnoldi
  estimate was 55% of its set-up at 50k nodes. The coarser levels keep an estimate (there
  pyamg's row-wise weights cost more, and the estimate is cheap; here 15 Lanczos steps):
  against row-wise weights everywhere, 31 -> 28 CG iterations at 512k nodes.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import torch

from . import native

__all__ = ["Level", "smoothed_aggregation"]

_OMEGA = 4.0 / 3.0  # pyamg's prolongation-smoothing weight


class Level(NamedTuple):
    """One level: its matrix A and, above the coarsest, prolongation P and restriction R = P^T
    (scipy CSR)."""

    A: sp.csr_matrix
    P: sp.csr_matrix | None = None
    R: sp.csr_matrix | None = None


def _pyamg(A: sp.csr_matrix, max_coarse: int) -> list[Level]:
    """pyamg's hierarchy with these settings (without the kernels). Its Arnoldi estimates
    start from numpy's global random state, seeded here (and restored) so that the
    hierarchy is reproducible."""
    import pyamg

    smooth = [("jacobi", {"weighting": "local"}), ("jacobi", {"weighting": "diagonal"})]  # the last: all coarser
    state = np.random.get_state()  # noqa: NPY002
    np.random.seed(0)  # noqa: NPY002
    try:
        ml = pyamg.smoothed_aggregation_solver(A, max_coarse=max_coarse, smooth=smooth, strength=None,
                                               improve_candidates=None)
    finally:
        np.random.set_state(state)  # noqa: NPY002
    return [Level(lvl.A.tocsr(), *((lvl.P.tocsr(), lvl.R.tocsr()) if i < len(ml.levels) - 1 else ()))
            for i, lvl in enumerate(ml.levels)]


def _csr(M: sp.csr_matrix) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    as32 = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.int32))  # noqa: E731
    return as32(M.indptr), as32(M.indices), torch.from_numpy(np.ascontiguousarray(M.data, dtype=np.float64))


def _scipy(parts: tuple[torch.Tensor, torch.Tensor, torch.Tensor], shape: tuple[int, int]) -> sp.csr_matrix:
    """A kernel's (crow, col, values) as scipy CSR without its exact zeros, as scipy's own
    products leave them: the explicit zeros of eliminated Dirichlet entries would otherwise
    enter the coarse matrices' patterns, which the next aggregation reads."""
    crow, col, val = parts
    M = sp.csr_matrix((val.numpy(), col.numpy(), crow.numpy()), shape=shape)
    M.eliminate_zeros()
    return M


def _spectral_radius(A: sp.csr_matrix, steps: int = 15) -> float:
    """rho(D^-1 A) of a symmetric positive definite A: the largest Ritz value of `steps`
    Lanczos steps on D^-1/2 A D^-1/2 (the same spectrum, symmetric) from a seeded start,
    which approaches it from below within a few steps (pyamg takes an Arnoldi estimate)."""
    d = A.diagonal()
    s = np.divide(1.0, np.sqrt(np.abs(d)), out=np.zeros_like(d), where=d != 0)
    v = np.random.default_rng(0).random(A.shape[0])
    v /= np.linalg.norm(v)
    previous, beta = np.zeros_like(v), 0.0
    alphas, betas = [], []
    for _ in range(min(steps, A.shape[0])):
        w = s * (A @ (s * v)) - beta * previous
        alpha = float(v @ w)
        w -= alpha * v
        alphas.append(alpha)
        beta = float(np.linalg.norm(w))
        if beta <= 1e-12 * abs(alpha):
            break
        betas.append(beta)
        previous, v = v, w / beta
    k = len(alphas)
    tridiagonal = np.diag(alphas) + np.diag(betas[: k - 1], 1) + np.diag(betas[: k - 1], -1)
    return float(np.linalg.eigvalsh(tridiagonal)[-1])


def _coarsen(A: sp.csr_matrix, candidate: np.ndarray, finest: bool) -> tuple[Level, sp.csr_matrix, np.ndarray] | None:
    """One level: (A with its P and R, the Galerkin product R A P, the coarse near-nullspace
    candidate), or None when no aggregate forms. A: symmetric float64 CSR; candidate [n] (the
    constant on the finest level)."""
    from pyamg import amg_core

    n = A.shape[0]
    agg, roots = np.empty(n, dtype=A.indptr.dtype), np.empty(n, dtype=A.indptr.dtype)
    n_agg = int(amg_core.standard_aggregation(n, A.indptr, A.indices, agg, roots))
    if n_agg == 0:
        return None
    # tentative prolongator: the candidate normalised on each aggregate (pyamg's
    # fit_candidates for one candidate); rows in no aggregate stay empty
    member = agg >= 0
    norms = np.sqrt(np.bincount(agg[member], weights=candidate[member] ** 2, minlength=n_agg))
    t, own = np.zeros(n), norms[agg[member]]
    t[member] = np.divide(candidate[member], own, out=np.zeros_like(own), where=own != 0)
    # Jacobi smoothing P = (I - W A) T, W = omega / (row sum of |a_ij|) on the finest level,
    # omega / (rho(D^-1 A) a_ii) below it
    a = _csr(A)
    as_tensor = lambda x, dt: torch.from_numpy(np.ascontiguousarray(x, dtype=dt))  # noqa: E731
    if finest:  # the row sums of |A| in the kernel's own pass over A (a threaded |A| 1 took 36 ms at 512k nodes)
        w = _OMEGA
    else:
        d = A.diagonal() * _spectral_radius(A)
        w = as_tensor(np.divide(_OMEGA, d, out=np.zeros_like(d), where=d != 0), np.float64)  # zero row: 0, as pyamg
    P = _scipy(native.sa_prolongator(a, as_tensor(agg, np.int32), as_tensor(t, np.float64), w, n_agg), (n, n_agg))
    R = P.T.tocsr()
    crow, col, val = native.csr_spgemm(a, _csr(P), n_agg)  # A P, [n, n_agg]
    coarse = _scipy(native.csr_spgemm(_csr(R), (crow, col, val), n_agg), (n_agg, n_agg))
    return Level(A, P, R), coarse, norms


def smoothed_aggregation(A: sp.csr_matrix, max_coarse: int) -> list[Level]:
    """The hierarchy of the symmetric float64 CSR matrix A (finest first), coarsened while a
    level has more than `max_coarse` rows (and at most 10 levels, as pyamg)."""
    n = A.shape[0]
    if not native.available() or A.dtype != np.float64 or max(n, A.nnz) >= 2**31:
        return _pyamg(A, max_coarse)
    levels, candidate, current = [], np.ones(n), A.tocsr()
    while current.shape[0] > max_coarse and len(levels) < 9:
        step = _coarsen(current, candidate, finest=not levels)
        if step is None:
            break
        level, current, candidate = step
        levels.append(level)
    return [*levels, Level(current)]
