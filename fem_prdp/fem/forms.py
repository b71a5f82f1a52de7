"""Forms as small functions of quadrature data, in the manner of scikit-fem.

A bilinear form gets the trial function `u`, the test function `v` and the coefficients
`w`, all evaluated at the quadrature points of every cell, and returns the integrand:

    @bilinear_form(order=lambda p, q: p + q - 2)
    def stiffness(u, v, w):
        return w.kappa * dot(grad(u), grad(v))

Shapes broadcast as [..., C, Lv, Lu, Q] (batch, cells, test dofs, trial dofs, points);
vectors (gradients, velocities) carry one more trailing axis of size dim. `order` gives the
polynomial degree of the integrand for trial/test degrees (p, q), not counting field
coefficients, so the assembler can choose an exact quadrature.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = [
    "BasisAtPoints", "Coefficients", "BilinearForm", "LinearForm", "bilinear_form", "linear_form",
    "dot", "grad", "mass", "stiffness", "tensor_stiffness", "advection", "supg_advection", "divergence_coupling",
    "source",
]


@dataclass
class BasisAtPoints:
    """value [C, L, 1, Q] (test) or [C, 1, L, Q] (trial); grad with a trailing dim axis."""

    value: torch.Tensor
    grad: torch.Tensor


class Coefficients(dict):
    """Coefficient values at quadrature points, [..., C, 1, 1, Q] (vectors: [..., dim]);
    attribute access (`w.kappa`) and `w.x`, the physical points [C, 1, 1, Q, dim]."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            known = ", ".join(sorted(self)) or "none"
            raise AttributeError(f"form coefficient {name!r} was not given; given: {known}") from None


def dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum(-1)


def grad(u: BasisAtPoints) -> torch.Tensor:
    return u.grad


@dataclass(frozen=True)
class BilinearForm:
    fn: Callable
    order: Callable[[int, int], int]

    def __call__(self, u, v, w):
        return self.fn(u, v, w)


@dataclass(frozen=True)
class LinearForm:
    fn: Callable
    order: Callable[[int], int]

    def __call__(self, v, w):
        return self.fn(v, w)


def bilinear_form(order: Callable[[int, int], int]):
    return lambda fn: BilinearForm(fn, order)


def linear_form(order: Callable[[int], int]):
    return lambda fn: LinearForm(fn, order)


def _get(w: Coefficients, name: str, default=1.0):
    return w[name] if name in w else default


@bilinear_form(order=lambda p, q: p + q)
def mass(u, v, w):
    """rho u v (coefficient `rho`, default 1)."""
    return _get(w, "rho") * u.value * v.value


@bilinear_form(order=lambda p, q: p + q - 2)
def stiffness(u, v, w):
    """kappa grad u . grad v with a scalar `kappa` (default 1)."""
    return _get(w, "kappa") * dot(u.grad, v.grad)


@bilinear_form(order=lambda p, q: p + q - 2)
def tensor_stiffness(u, v, w):
    """(K grad u) . grad v with a tensor coefficient `K` [..., C, 1, 1, Q, dim, dim]."""
    return dot(torch.einsum("...ij,...j->...i", w.K, u.grad), v.grad)


@bilinear_form(order=lambda p, q: p - 1 + q)
def advection(u, v, w):
    """(velocity . grad u) v with the vector coefficient `velocity` [..., C, 1, 1, Q, dim]."""
    return dot(w.velocity, u.grad) * v.value


@bilinear_form(order=lambda p, q: p + q - 2)
def supg_advection(u, v, w):
    """Streamline-diffusion term tau (velocity . grad u)(velocity . grad v) (SUPG for the
    advection part; `tau` per cell, see `supg_tau`)."""
    return w.tau * dot(w.velocity, u.grad) * dot(w.velocity, v.grad)


def divergence_coupling(component: int) -> BilinearForm:
    """-q d(u_c)/dx_c: the pressure-velocity coupling block B_c (trial: velocity component,
    test: pressure)."""
    return BilinearForm(lambda u, v, w: -u.grad[..., component] * v.value, lambda p, q: p - 1 + q)


@linear_form(order=lambda q: q)
def source(v, w):
    """f v with the coefficient `f`."""
    return w.f * v.value
