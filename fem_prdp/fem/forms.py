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
from functools import partial

import torch

__all__ = [
    "BasisAtPoints",
    "Coefficients",
    "BilinearForm",
    "Gram",
    "LinearForm",
    "bilinear_form",
    "linear_form",
    "dot",
    "grad",
    "mass",
    "stiffness",
    "tensor_stiffness",
    "advection",
    "supg_advection",
    "divergence_coupling",
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
class Gram:
    """A form whose element matrices are sum_q weights[..., c, q] test[c, a, q, :] .
    trial[c, e, q, :]: stiffness (gradients) and mass (values) with a scalar coefficient.
    The assembler differentiates it with respect to `weights` in one gather-and-contract
    pass per cell (`fem.gram`) instead of autograd through the products.

    Attributes:
        weights: [..., C, Q] quadrature weight x |det J| x coefficient.
        test, trial: [C, L, Q, K] per-cell features (K = dim gradients) or [L, Q, K]
            shared by every cell (K = 1 basis values).
        local: weights -> the element matrices [..., C, Lv, Lu] (the forms' fast path)."""

    weights: torch.Tensor
    test: torch.Tensor
    trial: torch.Tensor
    local: Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class BilinearForm:
    """`fn(u, v, w)` is the integrand; `order(p, q)` its polynomial degree. `local`, when
    given, computes the element matrices [..., C, Lv, Lu] directly from the trial and test
    `ElementData` (values, gradients, weights * det) and the coefficients `w`:
    the same numbers as integrating `fn`, without the broadcast [C, Lv, Lu, Q, d]
    temporaries (4-5x faster for the common forms; checked against `fn` in the tests).
    `gram`, when given, returns the form as a `Gram` (and `local` follows from it)."""

    fn: Callable
    order: Callable[[int, int], int]
    local: Callable | None = None
    gram: Callable | None = None

    def __call__(self, u, v, w):
        return self.fn(u, v, w)


@dataclass(frozen=True)
class LinearForm:
    fn: Callable
    order: Callable[[int], int]

    def __call__(self, v, w):
        return self.fn(v, w)


def bilinear_form(order: Callable[[int, int], int], local: Callable | None = None, gram: Callable | None = None):
    if gram is not None and local is None:
        local = partial(_local_of_gram, gram)
    return lambda fn: BilinearForm(fn, order, local, gram)


def _local_of_gram(gram: Callable, tr, te, w) -> torch.Tensor:
    g = gram(tr, te, w)
    return g.local(g.weights)


def linear_form(order: Callable[[int], int]):
    return lambda fn: LinearForm(fn, order)


def _get(w: Coefficients, name: str, default=1.0):
    return w[name] if name in w else default


def _weights(w: Coefficients, name: str, wdet: torch.Tensor) -> torch.Tensor:
    """wdet [C, Q] times the scalar coefficient `name` ([..., C, 1, 1, Q] or a number)."""
    c = _get(w, name)
    return wdet * c if not isinstance(c, torch.Tensor) else wdet * c[..., 0, 0, :]


def _mass_matrices(tr, te, weights: torch.Tensor) -> torch.Tensor:
    return torch.matmul(weights[..., :, None, :] * te.value, tr.value.T)


def _mass_gram(tr, te, w) -> Gram:
    return Gram(_weights(w, "rho", te.wdet), te.value[..., None], tr.value[..., None], partial(_mass_matrices, tr, te))


def _stiffness_matrices(tr, te, weights: torch.Tensor) -> torch.Tensor:
    scaled = te.grad * weights[..., :, None, :, None]  # [..., C, Lv, Q, d]
    return torch.matmul(scaled.reshape(*scaled.shape[:-2], -1), tr.grad_t)


def _stiffness_gram(tr, te, w) -> Gram:
    return Gram(_weights(w, "kappa", te.wdet), te.grad, tr.grad, partial(_stiffness_matrices, tr, te))


@bilinear_form(order=lambda p, q: p + q, gram=_mass_gram)
def mass(u, v, w):
    """rho u v (coefficient `rho`, default 1)."""
    return _get(w, "rho") * u.value * v.value


@bilinear_form(order=lambda p, q: p + q - 2, gram=_stiffness_gram)
def stiffness(u, v, w):
    """kappa grad u . grad v with a scalar `kappa` (default 1)."""
    return _get(w, "kappa") * dot(u.grad, v.grad)


@bilinear_form(order=lambda p, q: p + q - 2)
def tensor_stiffness(u, v, w):
    """(K grad u) . grad v with a tensor coefficient `K` [..., C, 1, 1, Q, dim, dim]."""
    return dot(torch.einsum("...ij,...j->...i", w.K, u.grad), v.grad)


def _advection_local(tr, te, w):
    vel = w.velocity[..., 0, 0, :, :]  # [..., C, Q, d]
    t = (vel.unsqueeze(-3) * tr.grad).sum(-1) * te.wdet[..., :, None, :]  # [..., C, Lu, Q]
    return torch.matmul(t, te.value.T).transpose(-1, -2)


@bilinear_form(order=lambda p, q: p - 1 + q, local=_advection_local)
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

    def local(tr, te, w):
        return -torch.matmul(tr.grad[..., component] * te.wdet[:, None, :], te.value.T).transpose(-1, -2)

    return BilinearForm(lambda u, v, w: -u.grad[..., component] * v.value, lambda p, q: p - 1 + q, local)


@linear_form(order=lambda q: q)
def source(v, w):
    """f v with the coefficient `f`."""
    return w.f * v.value
