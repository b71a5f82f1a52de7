"""Quadrature on the reference simplices, exact to any requested polynomial degree.

Rules are collapsed (Duffy) tensor products of Gauss-Jacobi rules (Karniadakis & Sherwin):
not the fewest points, but exact by construction for every degree, with positive weights
and all points inside the simplex. Reference simplices: [0, 1]; the triangle (0,0), (1,0),
(0,1); the tetrahedron with vertices 0, e1, e2, e3.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from scipy.special import roots_jacobi

__all__ = ["QuadratureRule", "quadrature"]


class QuadratureRule:
    """Points [n_qp, dim] and weights [n_qp] (summing to the reference measure 1/dim!)."""

    def __init__(self, points: np.ndarray, weights: np.ndarray, degree: int):
        self.points_np, self.weights_np, self.degree = points, weights, degree

    @property
    def n_qp(self) -> int:
        return len(self.weights_np)

    def points(self, dtype=torch.float64, device=None) -> torch.Tensor:
        return torch.as_tensor(self.points_np, dtype=dtype, device=device)

    def weights(self, dtype=torch.float64, device=None) -> torch.Tensor:
        return torch.as_tensor(self.weights_np, dtype=dtype, device=device)


def _gauss_jacobi_01(n: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """n-point rule on [0, 1] for the weight (1 - t)^alpha."""
    x, w = roots_jacobi(n, alpha, 0.0)
    return (x + 1) / 2, w / 2 ** (alpha + 1)


@functools.lru_cache(maxsize=None)
def quadrature(dim: int, degree: int) -> QuadratureRule:
    """A rule on the reference `dim`-simplex exact for polynomials of total degree `degree`."""
    if dim not in (1, 2, 3):
        raise ValueError(f"quadrature: dim must be 1, 2 or 3, got {dim}")
    if degree < 0:
        raise ValueError(f"quadrature: degree must be >= 0, got {degree}")
    n = max(1, math.ceil((degree + 1) / 2))
    if dim == 1:
        t, w = _gauss_jacobi_01(n, 0.0)
        return QuadratureRule(t[:, None], w, degree)
    if dim == 2:
        a, wa = _gauss_jacobi_01(n, 1.0)  # collapsed direction carries the (1 - a) Jacobian
        b, wb = _gauss_jacobi_01(n, 0.0)
        A, B = np.meshgrid(a, b, indexing="ij")
        W = np.outer(wa, wb)
        # The collapsed map: x = a, y = (1 - a) b.
        pts = np.stack([A.ravel(), ((1 - A) * B).ravel()], -1)
        return QuadratureRule(pts, W.ravel(), degree)
    a, wa = _gauss_jacobi_01(n, 2.0)
    b, wb = _gauss_jacobi_01(n, 1.0)
    c, wc = _gauss_jacobi_01(n, 0.0)
    A, B, C = np.meshgrid(a, b, c, indexing="ij")
    W = wa[:, None, None] * wb[None, :, None] * wc[None, None, :]
    x = A
    y = (1 - A) * B
    z = (1 - A) * (1 - B) * C
    return QuadratureRule(np.stack([x.ravel(), y.ravel(), z.ravel()], -1), W.ravel(), degree)
