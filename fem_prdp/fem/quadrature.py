"""Quadrature on the reference simplices, exact to any requested polynomial degree.

Triangles of degree 1, 2, 4, 5 and tetrahedra of degree 1, 2 use symmetric rules with few
points; every other case a collapsed (Duffy) tensor product of Gauss-Jacobi rules
(Karniadakis & Sherwin): not the fewest points, but exact by construction for every degree,
with positive weights and all points inside the simplex. Reference simplices: [0, 1]; the triangle (0,0), (1,0),
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


def _symmetric_triangle(orbits: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Points and weights (summing to 1/2) from orbits (a, w): a = 1/3 is the centroid,
    otherwise the three points with barycentric coordinates (a, a, 1 - 2a)."""
    pts, wts = [], []
    for a, w in orbits:
        if abs(a - 1 / 3) < 1e-15:
            pts.append((1 / 3, 1 / 3))
            wts.append(w / 2)
        else:
            for p in ((a, a), (1 - 2 * a, a), (a, 1 - 2 * a)):
                pts.append(p)
                wts.append(w / 2)
    return np.array(pts), np.array(wts)


# Symmetric positive-weight rules with fewer points than the collapsed ones, for the degrees
# assembly uses most (Strang & Fix; Dunavant 1985; Keast 1986). Exactness is tested.
_TRIANGLE = {
    1: [(1 / 3, 1.0)],
    2: [(1 / 6, 1 / 3)],
    4: [(0.445948490915965, 0.223381589678011), (0.091576213509771, 0.109951743655322)],
    5: [(1 / 3, 0.225), (0.470142064105115, 0.132394152788506), (0.101286507323456, 0.125939180544827)],
}
_TET_DEGREE_2 = 0.1381966011250105  # 4 points (b, b, b, 1 - 3b), weights 1/24


@functools.cache
def quadrature(dim: int, degree: int) -> QuadratureRule:
    """A rule on the reference `dim`-simplex exact for polynomials of total degree `degree`."""
    if dim not in (1, 2, 3):
        raise ValueError(f"quadrature: dim must be 1, 2 or 3, got {dim}")
    if degree < 0:
        raise ValueError(f"quadrature: degree must be >= 0, got {degree}")
    if dim == 2 and max(degree, 1) in _TRIANGLE:
        pts, wts = _symmetric_triangle(_TRIANGLE[max(degree, 1)])
        return QuadratureRule(pts, wts, degree)
    if dim == 3 and degree <= 1:
        return QuadratureRule(np.full((1, 3), 0.25), np.array([1 / 6]), degree)
    if dim == 3 and degree == 2:
        b = _TET_DEGREE_2
        pts = np.array([[b, b, b], [1 - 3 * b, b, b], [b, 1 - 3 * b, b], [b, b, 1 - 3 * b]])
        return QuadratureRule(pts, np.full(4, 1 / 24), degree)
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
