"""Error norms of a finite-element function against an exact solution."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .assembly import element_data
from .space import FunctionSpace

__all__ = ["error_norms"]


def error_norms(
    space: FunctionSpace, u: torch.Tensor, exact: Callable, exact_grad: Callable, degree: int | None = None
) -> tuple[float, float]:
    """(L2 error, H1-seminorm error) of the scalar field with dofs u [n_dofs] against
    exact(x [..., dim]) -> [...] and exact_grad(x) -> [..., dim], by quadrature of `degree`
    (default 2 * space.degree + 2, above the order of the discretisation error)."""
    degree = 2 * space.degree + 2 if degree is None else degree
    data = element_data(space, degree)
    wdet, xq = data.wdet, data.x
    ue = u[space.scalar_cell_dofs]  # [C, L]
    uq = torch.einsum("cl,lq->cq", ue, data.value)
    gq = torch.einsum("cl,clqd->cqd", ue, data.grad)
    l2 = ((uq - exact(xq)) ** 2 * wdet).sum().sqrt()
    h1 = (((gq - exact_grad(xq)) ** 2).sum(-1) * wdet).sum().sqrt()
    return float(l2), float(h1)
