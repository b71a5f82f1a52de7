"""Stabilisation for convection-dominated advection-diffusion: the SUPG parameter, and
discrete upwinding (algebraic artificial diffusion that makes the operator an M-matrix)."""

from __future__ import annotations

import torch

from ..linalg import SparseMatrix
from .assembly import Field
from .space import FunctionSpace

__all__ = ["supg_tau", "discrete_upwind"]


def supg_tau(space: FunctionSpace, velocity: Field, diffusivity: float) -> torch.Tensor:
    """Per-cell tau = h / (2 |w|) (coth(Pe) - 1 / Pe), Pe = |w| h / (2 nu) (Brooks & Hughes
    1982, the optimal choice in 1D), with h the cell's longest edge and |w| the velocity
    magnitude at the cell centroid. Returns [..., n_cells]; pass it as `tau=` to
    `supg_advection` (add that matrix to the Galerkin one).

    For P1 elements the SUPG source term tau (w . grad v, f) must be added too when f != 0.
    """
    h = space.mesh.cell_diameters().to(device=space.device, dtype=space.dtype)
    w = velocity.at_quadrature(0)  # degree-0 rule: the centroid, [..., C, 1, dim]
    speed = w[..., 0, :].norm(dim=-1)
    pe = speed * h / (2 * diffusivity)
    safe_pe = torch.where(pe > 1e-8, pe, torch.ones_like(pe))
    xi = torch.where(pe > 1e-8, 1 / torch.tanh(safe_pe) - 1 / safe_pe, pe / 3)  # coth(Pe) - 1/Pe ~ Pe/3
    safe_speed = torch.where(speed > 0, speed, torch.ones_like(speed))
    return torch.where(speed > 0, h / (2 * safe_speed) * xi, torch.zeros_like(speed))


def discrete_upwind(A: SparseMatrix, fraction: float = 1.0) -> SparseMatrix:
    """A + D with the discrete diffusion D: d_ij = -max(0, a_ij, a_ji) for i != j and
    d_ii = -sum_j d_ij (Kuzmin's algebraic upwinding, written for the matrix on the left of
    A u = b). D is symmetric with zero row sums; every off-diagonal entry of the result is
    <= 0 and the row sums are unchanged, so a transport matrix becomes an M-matrix and the solution obeys
    the discrete maximum principle (first-order accurate, no oscillations). On a uniform 1D
    mesh with P1 elements it turns the Galerkin convection into the classic first-order
    upwind difference. Differentiable in A's values; batched values [B, nnz] allowed.

    Applied to the convection matrix alone (then add the diffusion) it gives the classic
    upwind scheme; applied to the whole transport matrix it adds only the diffusion the
    physical one lacks (less smearing where the cell Peclet number is small).

    Args:
        A: a matrix on a structurally symmetric pattern with stored diagonal, e.g. from
            `assemble_matrix(advection, ...)`.
        fraction: add fraction * D (in (0, 1]); below 1 the result keeps part of A's
            positive off-diagonal entries (no M-matrix), a matrix between A and its
            upwinded form (a multigrid-friendly approximation of A, as the Navier-Stokes
            velocity preconditioner uses).
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"discrete_upwind: fraction must be in (0, 1], got {fraction!r}")
    pattern = A.pattern
    t, perm = pattern.transpose()
    if not (torch.equal(t.crow, pattern.crow) and torch.equal(t.col, pattern.col)):
        raise ValueError("discrete_upwind: the matrix pattern must be structurally symmetric (a (space, space) "
                         "FEM pattern); got a rectangular or one-sided pattern")
    diag = pattern.diagonal_slots()
    if bool((diag < 0).any()):
        raise ValueError("discrete_upwind: every diagonal entry must be stored in the pattern")
    row, col = pattern.row_indices(), pattern.col.long()
    off = (row != col).to(A.values.dtype)
    a = A.values
    d = torch.clamp(torch.maximum(a, a[..., perm]), min=0.0) * (off * fraction)  # -d_ij: symmetric, >= 0
    dim = a.ndim - 1
    row_sum = torch.zeros((*a.shape[:-1], pattern.shape[0]), dtype=a.dtype, device=a.device).index_add(dim, row, d)
    return A.with_values((a - d).index_add(dim, diag, row_sum))
