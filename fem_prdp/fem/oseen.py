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
from .assembly import Field, _basis_data, _coefficient, assemble_matrix
from .forms import Coefficients, advection, divergence_coupling, mass, stiffness
from .space import FunctionSpace

__all__ = ["TaylorHood", "OseenSystem", "assemble_oseen"]


class TaylorHood:
    """Velocity space P2^dim (blocked by component) and pressure space P1 on one mesh.

    Attributes:
        velocity: vector P2 `FunctionSpace`; scalar_velocity: its scalar P2 component space.
        pressure: scalar P1 `FunctionSpace`.
        n_u, n_p: numbers of velocity and pressure dofs; unknowns are [u (blocked), p].
    """

    def __init__(
        self,
        mesh: Mesh,
        dtype: torch.dtype = torch.float64,
        device=None,
        periodic: list[tuple[str, str]] | None = None,
    ):
        self.mesh = mesh
        self.scalar_velocity = FunctionSpace(mesh, 2, periodic=periodic, dtype=dtype, device=device)
        self.velocity = FunctionSpace(
            mesh, 2, shape=(mesh.dim,), periodic=periodic, dtype=dtype, device=device
        )
        self.pressure = FunctionSpace(mesh, 1, periodic=periodic, dtype=dtype, device=device)
        self.n_u, self.n_p = self.velocity.n_dofs, self.pressure.n_dofs
        self.n_dofs = self.n_u + self.n_p
        self._pattern = None
        self._pressure_mass = None

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(u [..., n_u], p [..., n_p]) from the stacked unknowns."""
        return x[..., : self.n_u], x[..., self.n_u :]


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


def _oseen_pattern(th: TaylorHood):
    """(pattern, slot) of the whole Oseen matrix as one mixed element, cached on `th`:
    per cell the velocity blocks A (one per component), B_c, B_c^T, then the pressure
    diagonal (stored as zeros so a pressure dof can be pinned)."""
    if th._pattern is None:
        u = th.scalar_velocity.cell_dofs
        p = th.pressure.cell_dofs + th.n_u
        n_s = th.scalar_velocity.n_dofs
        rows, cols = [], []
        comps = [u + c * n_s for c in range(th.mesh.dim)]
        for uc in comps:  # A blocks
            rows.append(uc[:, :, None].expand(-1, -1, uc.shape[1]))
            cols.append(uc[:, None, :].expand(-1, uc.shape[1], -1))
        for uc in comps:  # B_c: pressure rows, velocity columns
            rows.append(p[:, :, None].expand(-1, -1, uc.shape[1]))
            cols.append(uc[:, None, :].expand(-1, p.shape[1], -1))
        for uc in comps:  # B_c^T
            rows.append(uc[:, :, None].expand(-1, -1, p.shape[1]))
            cols.append(p[:, None, :].expand(-1, uc.shape[1], -1))
        diag = th.n_u + torch.arange(th.n_p, device=u.device)
        rows = torch.cat([r.reshape(-1) for r in rows] + [diag])
        cols = torch.cat([c.reshape(-1) for c in cols] + [diag])
        th._pattern = CSRPattern.from_coo(rows.cpu(), cols.cpu(), (th.n_dofs, th.n_dofs), device=u.device)
    return th._pattern


def assemble_oseen(
    th: TaylorHood, nu: float | torch.Tensor, velocity: torch.Tensor | None = None, dt: float | None = None
) -> OseenSystem:
    """Assemble the Oseen matrix in one pass over the cells and one scatter.

    Args:
        th: the Taylor-Hood spaces.
        nu: kinematic viscosity (> 0; number or per-cell tensor [..., n_cells]).
        velocity: convecting velocity dofs [n_u] or [B, n_u] on `th.velocity` (None: Stokes).
        dt: time step; adds M / dt to the velocity block (None: steady).
    """
    if isinstance(nu, (int, float)) and not nu > 0:
        raise ValueError(f"assemble_oseen: viscosity nu must be positive, got {nu}")
    if dt is not None and not dt > 0:
        raise ValueError(f"assemble_oseen: time step dt must be positive, got {dt}")
    V, Q = th.scalar_velocity, th.pressure
    degree = 5 if velocity is not None else 4  # exact for mass and P2 convection by P2
    tr, tq = _basis_data(V, degree), _basis_data(Q, degree)
    w = Coefficients(kappa=_coefficient(nu, V, degree, tr.x))
    A = stiffness.local(tr, tr, w)
    if dt is not None:
        A = A + mass.local(tr, tr, Coefficients()) / dt
    if velocity is not None:
        vel = _coefficient(Field(th.velocity, velocity), V, degree, tr.x)
        A = A + advection.local(tr, tr, Coefficients(velocity=vel))
    d = th.mesh.dim
    Bs = [divergence_coupling(c).local(tr, tq, Coefficients()) for c in range(d)]  # [C, 3, 6]
    pieces = [A] * d + Bs + [b.transpose(-1, -2) for b in Bs]
    batch = torch.broadcast_shapes(*[x.shape[:-3] for x in pieces])
    flat = [x.expand(*batch, *x.shape[-3:]).reshape(*batch, -1) for x in pieces]
    flat.append(A.new_zeros((*batch, th.n_p)))
    entries = torch.cat(flat, dim=-1)
    pattern, slot = _oseen_pattern(th)
    values = entries.new_zeros((*batch, pattern.nnz)).index_add(len(batch), slot, entries)
    if th._pressure_mass is None:
        th._pressure_mass = assemble_matrix(mass, Q)
    return OseenSystem(SparseMatrix(pattern, values), th, th._pressure_mass)
