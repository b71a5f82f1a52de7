"""Model matrices built directly (no mesh): the finite-difference stencils that P1 stiffness
reduces to on uniform grids, a convection-diffusion matrix and a saddle-point system. Used
by `fem-prdp verify solvers` and `fem-prdp bench solvers`."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["laplacian", "jumping_diffusion", "convection_diffusion", "saddle_point"]


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


def jumping_diffusion(n: int, dim: int = 3, seed: int = 0) -> sp.csr_matrix:
    """Cell-centred finite-volume diffusion on an n^dim grid with zero Dirichlet values around
    it and a conductivity 1e-3 + rho^3 per cell (rho uniform on [0, 1], seeded): the
    density-penalised conductivity of topology optimisation, whose coefficient jumps over
    three decades from cell to cell. Faces take the mean of their two cells' conductivity.
    SPD; unscaled (h = 1)."""
    if dim not in (2, 3) or n < 2:
        raise ValueError(f"jumping_diffusion: need dim 2 or 3 and n >= 2, got dim={dim}, n={n}")
    kappa = 1e-3 + np.random.default_rng(seed).random(n**dim) ** 3
    coord = np.indices((n,) * dim).reshape(dim, -1)
    diag = np.zeros(n**dim)
    rows, cols, vals = [], [], []
    for axis in range(dim):
        stride = n ** (dim - 1 - axis)
        i = np.flatnonzero(coord[axis] < n - 1)
        j = i + stride
        c = 0.5 * (kappa[i] + kappa[j])
        rows += [i, j]
        cols += [j, i]
        vals += [-c, -c]
        np.add.at(diag, i, c)
        np.add.at(diag, j, c)
        edge = (coord[axis] == 0) | (coord[axis] == n - 1)  # faces on the Dirichlet boundary
        diag[edge] += kappa[edge]
    rows.append(np.arange(n**dim))
    cols.append(np.arange(n**dim))
    vals.append(diag)
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n**dim,) * 2)


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
