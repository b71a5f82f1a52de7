"""Model matrices built directly (no mesh): the finite-difference stencils that P1 stiffness
reduces to on uniform grids, a convection-diffusion matrix and a saddle-point system. Used
by `fem-prdp verify solvers` and `fem-prdp bench solvers`."""

from __future__ import annotations

import scipy.sparse as sp

__all__ = ["laplacian", "convection_diffusion", "saddle_point"]


def _lap1d(n: int) -> sp.csr_matrix:
    return sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n), format="csr")


def laplacian(n: int, dim: int = 2) -> sp.csr_matrix:
    """Dirichlet Laplacian on n^dim interior points, unscaled: the 5-point (2D) or 7-point
    (3D) stencil. Equal to the P1 stiffness matrix on the uniform right-diagonal triangle
    mesh (2D) and on the Kuhn tetrahedral mesh (3D, times h)."""
    one, eye = _lap1d(n), sp.identity(n, format="csr")
    if dim == 1:
        return one
    if dim == 2:
        return (sp.kron(eye, one) + sp.kron(one, eye)).tocsr()
    if dim == 3:
        return (
            sp.kron(sp.kron(eye, eye), one)
            + sp.kron(sp.kron(eye, one), eye)
            + sp.kron(sp.kron(one, eye), eye)
        ).tocsr()
    raise ValueError(f"laplacian: dim must be 1, 2 or 3, got {dim}")


def convection_diffusion(n: int, peclet: float = 20.0) -> sp.csr_matrix:
    """2D -Laplace u + w . grad u with w = (1, 0.5) * peclet, first-order upwind on an n x n
    interior grid (h = 1/(n+1)): nonsymmetric, an M-matrix."""
    h = 1.0 / (n + 1)
    eye = sp.identity(n, format="csr")
    up = sp.diags([-1.0, 1.0], [-1, 0], shape=(n, n))  # backward difference, flow > 0
    conv = peclet * h * (sp.kron(eye, up) + 0.5 * sp.kron(up, eye))
    return (laplacian(n, 2) + conv).tocsr()


def saddle_point(n: int) -> tuple[sp.csr_matrix, int]:
    """[[A, B^T], [B, 0]]: a Stokes-like system on an n x n grid: A = vector
    Laplacian (2 components), B = forward-difference divergence onto (n-1)^2 cell pressures.
    Returns (matrix, n_u). The pressure block is zero (a true saddle point)."""
    lap = laplacian(n, 2)
    A = sp.block_diag([lap, lap]).tocsr()
    d = sp.diags([-1.0, 1.0], [0, 1], shape=(n - 1, n))
    avg = sp.diags([0.5, 0.5], [0, 1], shape=(n - 1, n))
    Bx = sp.kron(avg, d)
    By = sp.kron(d, avg)
    B = sp.hstack([Bx, By]).tocsr()
    m = B.shape[0]
    S = sp.bmat([[A, B.T], [B, sp.csr_matrix((m, m))]]).tocsr()
    S.eliminate_zeros()
    return S, A.shape[0]
