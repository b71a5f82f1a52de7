"""Lagrange P1 and P2 elements on the reference simplex, written with barycentric
coordinates lambda_0 = 1 - sum(x), lambda_i = x_i.

Local dofs: the d+1 vertices, then (P2) one per edge in `EDGES[dim]` order.
"""

from __future__ import annotations

import torch

__all__ = ["EDGES", "n_local_dofs", "basis", "local_dof_points"]

# Local edges (vertex pairs) of the reference simplex per dimension.
EDGES = {
    1: [(0, 1)],
    2: [(0, 1), (1, 2), (0, 2)],
    3: [(0, 1), (1, 2), (0, 2), (0, 3), (1, 3), (2, 3)],
}


def n_local_dofs(dim: int, degree: int) -> int:
    if degree == 1:
        return dim + 1
    if degree == 2:
        return dim + 1 + len(EDGES[dim])
    raise ValueError(f"Lagrange degree must be 1 or 2, got {degree}")


def _barycentric(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """lambda [n_qp, d+1] and its constant gradient [d+1, d] on the reference simplex."""
    dim = x.shape[1]
    lam = torch.cat([1 - x.sum(1, keepdim=True), x], dim=1)
    grad = torch.cat(
        [-torch.ones(1, dim, dtype=x.dtype, device=x.device), torch.eye(dim, dtype=x.dtype, device=x.device)],
        dim=0,
    )
    return lam, grad


def basis(x: torch.Tensor, degree: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference basis at points x [n_qp, dim].

    Returns:
        values [n_local, n_qp] and reference gradients [n_local, n_qp, dim].
    """
    dim = x.shape[1]
    lam, dlam = _barycentric(x)  # [Q, d+1], [d+1, d]
    if degree == 1:
        vals = lam.T
        grads = dlam[:, None, :].expand(dim + 1, x.shape[0], dim)
        return vals, grads.contiguous()
    if degree != 2:
        raise ValueError(f"Lagrange degree must be 1 or 2, got {degree}")
    vals, grads = [], []
    for i in range(dim + 1):
        vals.append(lam[:, i] * (2 * lam[:, i] - 1))
        grads.append((4 * lam[:, i] - 1)[:, None] * dlam[i][None, :])
    for i, j in EDGES[dim]:
        vals.append(4 * lam[:, i] * lam[:, j])
        grads.append(4 * (lam[:, j, None] * dlam[i][None, :] + lam[:, i, None] * dlam[j][None, :]))
    return torch.stack(vals), torch.stack(grads)


def local_dof_points(dim: int, degree: int, dtype=torch.float64) -> torch.Tensor:
    """[n_local, dim] reference coordinates of the local dofs (vertices, edge midpoints)."""
    verts = torch.cat([torch.zeros(1, dim, dtype=dtype), torch.eye(dim, dtype=dtype)])
    if degree == 1:
        return verts
    mids = torch.stack([(verts[i] + verts[j]) / 2 for i, j in EDGES[dim]])
    return torch.cat([verts, mids])
