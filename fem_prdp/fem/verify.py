"""`fem-prdp verify convergence`: observed orders of P1/P2 under refinement against
manufactured solutions, per dimension, mesh family and boundary-condition kind.

Problems on the unit interval / square / cube (u exact, f = -div grad u (+ u)):
- dirichlet: -Lap u = f, u = exact on every boundary.
- neumann:   -Lap u + u = f, grad u . n = g on every boundary.
- robin:     -Lap u = f, grad u . n + u = g on every boundary.
- periodic:  -Lap u + u = f, periodic in every direction (uniform meshes: gmsh meshes here
  are not generated with matching periodic nodes).
Expected orders: L2 p + 1, H1 p. The observed order is the slope of log(error) against
log(h) between the two finest meshes, h = (measure / n_cells)^(1/dim).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..linalg import CG, Jacobi, solve
from ..mesh import box, rectangle, uniform_box, uniform_interval, uniform_rectangle, unit_interval
from .assembly import assemble_matrix, assemble_vector
from .boundary import apply_dirichlet, assemble_boundary_matrix, assemble_boundary_vector
from .forms import mass, source, stiffness
from .norms import error_norms
from .space import FunctionSpace

__all__ = ["verify_convergence", "solve_manufactured", "BC_KINDS", "UNIFORM_LEVELS", "GMSH_LEVELS"]

BC_KINDS = ("dirichlet", "neumann", "robin", "periodic")
PI = math.pi
# Uniform cells per side per (dim, degree) and gmsh h per dim, coarse to fine: fine enough
# to be in the asymptotic range (3D P1 periodic needs 24 cells per side), small enough for CI.
UNIFORM_LEVELS = {
    (1, 1): [8, 16, 32],
    (1, 2): [8, 16, 32],
    (2, 1): [8, 16, 32],
    (2, 2): [8, 16, 32],
    (3, 1): [6, 12, 24],
    (3, 2): [4, 8, 16],
}
GMSH_LEVELS = {1: [1 / 8, 1 / 16, 1 / 32], 2: [0.2, 0.1, 0.05], 3: [0.25, 0.125, 0.0625]}
_SIDES = {
    1: {"left": (0, -1), "right": (0, 1)},
    2: {"left": (0, -1), "right": (0, 1), "bottom": (1, -1), "top": (1, 1)},
    3: {"left": (0, -1), "right": (0, 1), "front": (1, -1), "back": (1, 1), "bottom": (2, -1), "top": (2, 1)},
}


def _exact(kind: str):
    """(u, grad u, -Lap u) as callables of x [..., dim]."""
    k, phase = (2 * PI, 0.3) if kind == "periodic" else (PI, 0.5)

    def u(x):
        return torch.prod(torch.sin(k * x + phase), dim=-1)

    def grad_u(x):
        s, c = torch.sin(k * x + phase), torch.cos(k * x + phase)
        d = x.shape[-1]
        return torch.stack(
            [k * c[..., i] * torch.prod(torch.cat([s[..., :i], s[..., i + 1 :]], -1), -1) for i in range(d)],
            -1,
        )

    def minus_lap(x):
        return x.shape[-1] * k**2 * u(x)

    return u, grad_u, minus_lap


def _meshes(dim: int, family: str, degree: int) -> list:
    if family == "uniform":
        make = {1: uniform_interval, 2: uniform_rectangle, 3: uniform_box}[dim]
        return [make(n) for n in UNIFORM_LEVELS[(dim, degree)]]
    make = {1: unit_interval, 2: rectangle, 3: box}[dim]
    return [make(h=h) for h in GMSH_LEVELS[dim]]


def solve_manufactured(mesh, degree: int, kind: str) -> tuple[float, float, float]:
    """(h, L2 error, H1 error) for one mesh, degree and boundary-condition kind."""
    dim = mesh.dim
    u, grad_u, minus_lap = _exact(kind)
    reaction = kind in ("neumann", "periodic")
    periodic = (
        [(a, b) for a, b in [("left", "right"), ("front", "back"), ("bottom", "top")] if a in mesh.boundaries]
        if kind == "periodic"
        else None
    )
    V = FunctionSpace(mesh, degree, periodic=periodic)
    K = assemble_matrix(stiffness, V)
    f = (lambda x: minus_lap(x) + u(x)) if reaction else minus_lap
    b = assemble_vector(source, V, f=f)
    values = K.values + assemble_matrix(mass, V).values if reaction else K.values
    if kind in ("neumann", "robin"):
        alpha = 1.0 if kind == "robin" else 0.0
        for name, (axis, sign) in _SIDES[dim].items():

            def g(x, axis=axis, sign=sign):
                return sign * grad_u(x)[..., axis] + alpha * u(x)

            b = b + assemble_boundary_vector(V, name, g=g)
            if alpha:
                values = values + assemble_boundary_matrix(V, name, alpha=alpha, like=K).values
    A = K.with_values(values)
    if kind == "dirichlet":
        A, b = apply_dirichlet(A, b, V, *mesh.boundaries, values=lambda x: u(x))
    x, info = solve(A, b, CG(rtol=1e-12, max_iters=20000), Jacobi(A), check=True)
    l2, h1 = error_norms(V, x, u, grad_u)
    return (mesh.measure() / mesh.n_cells) ** (1 / dim), l2, h1


def _slope(hs, errs) -> float:
    return float(np.log(errs[-2] / errs[-1]) / np.log(hs[-2] / hs[-1]))


def verify_convergence(dims=(1, 2, 3), degrees=(1, 2), kinds=BC_KINDS, families=("uniform", "gmsh")) -> dict:
    """The table of observed orders; each row passes when both orders are within 0.15 of
    the expected ones (L2: p + 1, H1: p)."""
    rows = []
    for dim in dims:
        for family in families:
            for p in degrees:
                meshes = _meshes(dim, family, p)
                for kind in kinds:
                    if kind == "periodic" and family != "uniform":
                        continue
                    res = [solve_manufactured(m, p, kind) for m in meshes]
                    hs, l2, h1 = zip(*res, strict=True)
                    r_l2, r_h1 = _slope(hs, l2), _slope(hs, h1)
                    rows.append(
                        {
                            "dim": dim,
                            "mesh": family,
                            "bc": kind,
                            "degree": p,
                            "h": list(hs),
                            "l2_errors": list(l2),
                            "h1_errors": list(h1),
                            "l2_order": r_l2,
                            "h1_order": r_h1,
                            "expected_l2": p + 1,
                            "expected_h1": p,
                            "ok": abs(r_l2 - (p + 1)) <= 0.15 and abs(r_h1 - p) <= 0.15,
                        }
                    )
    return {"rows": rows, "ok": all(r["ok"] for r in rows)}
