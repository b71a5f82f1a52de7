"""Reference solutions and published data the physics is verified against."""

from __future__ import annotations

import math

import torch

__all__ = ["GHIA_RE100_U", "GHIA_RE1000_U", "kovasznay", "kovasznay_grad_u"]

# Ghia, Ghia & Shin, J. Comput. Phys. 48 (1982) 387-411, Table I: u(0.5, y) on the vertical
# centreline of the lid-driven cavity, Re = 100.
GHIA_RE100_U = [
    (1.0000, 1.00000), (0.9766, 0.84123), (0.9688, 0.78871), (0.9609, 0.73722), (0.9531, 0.68717),
    (0.8516, 0.23151), (0.7344, 0.00332), (0.6172, -0.13641), (0.5000, -0.20581), (0.4531, -0.21090),
    (0.2813, -0.15662), (0.1719, -0.10150), (0.1016, -0.06434), (0.0703, -0.04775), (0.0625, -0.04192),
    (0.0547, -0.03717), (0.0000, 0.00000),
]

# The same table, Re = 1000.
GHIA_RE1000_U = [
    (1.0000, 1.00000), (0.9766, 0.65928), (0.9688, 0.57492), (0.9609, 0.51117), (0.9531, 0.46604),
    (0.8516, 0.33304), (0.7344, 0.18719), (0.6172, 0.05702), (0.5000, -0.06080), (0.4531, -0.10648),
    (0.2813, -0.27805), (0.1719, -0.38289), (0.1016, -0.29730), (0.0703, -0.22220), (0.0625, -0.20196),
    (0.0547, -0.18109), (0.0000, 0.00000),
]


def _kovasznay_lambda(re: float) -> float:
    return re / 2 - math.sqrt(re**2 / 4 + 4 * math.pi**2)


def kovasznay(x: torch.Tensor, re: float = 40.0) -> torch.Tensor:
    """Kovasznay (1948) exact steady Navier-Stokes velocity [..., 2] on [-0.5, 1] x [-0.5, 1.5],
    here shifted by (0.5, 0.5) to [0, 1.5] x [0, 2]."""
    lam = _kovasznay_lambda(re)
    X, Y = x[..., 0] - 0.5, x[..., 1] - 0.5
    e = torch.exp(lam * X)
    return torch.stack([1 - e * torch.cos(2 * math.pi * Y), lam / (2 * math.pi) * e * torch.sin(2 * math.pi * Y)], -1)


def kovasznay_grad_u(x: torch.Tensor, re: float = 40.0) -> torch.Tensor:
    """Gradient [..., 2] of the first velocity component of `kovasznay`."""
    lam = _kovasznay_lambda(re)
    X, Y = x[..., 0] - 0.5, x[..., 1] - 0.5
    e = torch.exp(lam * X)
    return torch.stack([-lam * e * torch.cos(2 * math.pi * Y), 2 * math.pi * e * torch.sin(2 * math.pi * Y)], -1)
