"""SUPG stabilisation parameter for convection-dominated advection-diffusion."""

from __future__ import annotations

import torch

from .assembly import Field
from .space import FunctionSpace

__all__ = ["supg_tau"]


def supg_tau(space: FunctionSpace, velocity: Field, diffusivity: float) -> torch.Tensor:
    """Per-cell tau = h / (2 |w|) (coth(Pe) - 1 / Pe), Pe = |w| h / (2 nu) (Brooks & Hughes
    1982, the optimal choice in 1D), with h the cell's longest edge and |w| the velocity
    magnitude at the cell centroid. Returns [..., n_cells]; pass it as `tau=` to
    `supg_advection` (add that matrix to the Galerkin one).

    For P1 elements the SUPG source term tau (w . grad v, f) must be added too when f != 0.
    """
    mesh = space.mesh
    p = mesh.points.to(device=space.device, dtype=space.dtype)[mesh.cells.to(space.device)]
    n = p.shape[1]
    h = torch.stack([(p[:, a] - p[:, b]).norm(dim=-1) for a in range(n) for b in range(a + 1, n)], -1).max(-1).values
    w = velocity.at_quadrature(0)  # degree-0 rule: the centroid, [..., C, 1, dim]
    speed = w[..., 0, :].norm(dim=-1)
    pe = speed * h / (2 * diffusivity)
    safe_pe = torch.where(pe > 1e-8, pe, torch.ones_like(pe))
    xi = torch.where(pe > 1e-8, 1 / torch.tanh(safe_pe) - 1 / safe_pe, pe / 3)  # coth(Pe) - 1/Pe ~ Pe/3
    safe_speed = torch.where(speed > 0, speed, torch.ones_like(speed))
    return torch.where(speed > 0, h / (2 * safe_speed) * xi, torch.zeros_like(speed))
