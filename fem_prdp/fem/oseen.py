"""Taylor-Hood P2-P1 spaces and the Oseen-linearised Navier-Stokes saddle-point matrix.

For a convecting velocity w (the previous iterate or time level), the Oseen operator is

    [ A    B^T ] [u]   A = (1/dt) M + nu K + C(w)  (per velocity component, blocked)
    [ B    0   ] [p]   B = -(q, div u)

with M the P2 mass, K the P2 stiffness and C(w) the convection (w . grad u, v). The
matrix is one `SparseMatrix` on a pattern cached per Taylor-Hood pair; `OseenSystem`
gives views of its blocks (for block preconditioners) and the pressure mass matrix (for the
Schur-complement approximation S ~ (1/nu) M_p).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..linalg import CSRPattern, SparseMatrix
from ..mesh import Mesh
from .assembly import Field, assemble_matrix, block_matrix
from .forms import advection, divergence_coupling, mass, stiffness
from .space import FunctionSpace

__all__ = ["TaylorHood", "OseenSystem", "assemble_oseen"]


class TaylorHood:
    """Velocity space P2^dim (blocked by component) and pressure space P1 on one mesh.

    Attributes:
        velocity: vector P2 `FunctionSpace`; scalar_velocity: its scalar P2 component space.
        pressure: scalar P1 `FunctionSpace`.
        n_u, n_p: numbers of velocity and pressure dofs; unknowns are [u (blocked), p].
    """

    def __init__(self, mesh: Mesh, dtype: torch.dtype = torch.float64, device=None,
                 periodic: list[tuple[str, str]] | None = None):
        self.mesh = mesh
        self.scalar_velocity = FunctionSpace(mesh, 2, periodic=periodic, dtype=dtype, device=device)
        self.velocity = FunctionSpace(mesh, 2, shape=(mesh.dim,), periodic=periodic, dtype=dtype,
                                      device=device)
        self.pressure = FunctionSpace(mesh, 1, periodic=periodic, dtype=dtype, device=device)
        self.n_u, self.n_p = self.velocity.n_dofs, self.pressure.n_dofs
        self.n_dofs = self.n_u + self.n_p
        ids = torch.arange(self.n_p + 1, dtype=torch.int32, device=self.pressure.device)
        self.pressure_diagonal = CSRPattern(ids, ids[:-1].clone(), (self.n_p, self.n_p))

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(u [..., n_u], p [..., n_p]) from the stacked unknowns."""
        return x[..., : self.n_u], x[..., self.n_u:]


@dataclass
class OseenSystem:
    """The assembled saddle-point matrix with views of its blocks."""

    matrix: SparseMatrix
    spaces: TaylorHood
    pressure_mass: SparseMatrix

    @property
    def n_u(self) -> int:
        return self.spaces.n_u

    def velocity_block(self) -> SparseMatrix:
        return self.matrix.block(slice(0, self.n_u), slice(0, self.n_u))

    def divergence_block(self) -> SparseMatrix:
        """B [n_p, n_u]."""
        return self.matrix.block(slice(self.n_u, None), slice(0, self.n_u))

    def gradient_block(self) -> SparseMatrix:
        """B^T [n_u, n_p]."""
        return self.matrix.block(slice(0, self.n_u), slice(self.n_u, None))


def assemble_oseen(th: TaylorHood, nu: float | torch.Tensor, velocity: torch.Tensor | None = None,
                   dt: float | None = None) -> OseenSystem:
    """Assemble the Oseen matrix.

    Args:
        th: the Taylor-Hood spaces.
        nu: kinematic viscosity (> 0; number or per-cell tensor, batched allowed).
        velocity: convecting velocity dofs [n_u] or [B, n_u] on `th.velocity` (None: Stokes).
        dt: time step; adds M / dt to the velocity block (None: steady).
    """
    if isinstance(nu, (int, float)) and not nu > 0:
        raise ValueError(f"assemble_oseen: viscosity nu must be positive, got {nu}")
    if dt is not None and not dt > 0:
        raise ValueError(f"assemble_oseen: time step dt must be positive, got {dt}")
    V, Q = th.scalar_velocity, th.pressure
    A = assemble_matrix(stiffness, V, kappa=nu)
    values = A.values
    if dt is not None:
        values = values + assemble_matrix(mass, V).values / dt
    if velocity is not None:
        values = values + assemble_matrix(advection, V, velocity=Field(th.velocity, velocity)).values
    A = A.with_values(values)
    d = th.mesh.dim
    B = [assemble_matrix(divergence_coupling(c), V, Q) for c in range(d)]
    Bt = [b.T for b in B]
    rows = [[A if i == j else None for j in range(d)] + [Bt[i]] for i in range(d)]
    # A stored (zero) pressure diagonal lets a pressure dof be pinned by apply_dirichlet.
    Mp = assemble_matrix(mass, Q)
    zero_diag = SparseMatrix(th.pressure_diagonal, Mp.values.new_zeros(th.n_p))
    rows.append(B + [zero_diag])
    return OseenSystem(block_matrix(rows), th, Mp)
