"""Preconditioners for saddle-point systems [[A, B^T], [B, 0]] split at n_u, and the
pieces physics builds them from: the same scalar preconditioner on every component block
of a vector unknown, and two Schur-complement approximations: Cahouet-Chabard (no
convection: small time steps) and pressure convection-diffusion (any time step, steady
flow). Everything here takes preconditioners and matrices; nothing knows about meshes."""

from __future__ import annotations

import torch

from .precond import Preconditioner
from .sparse import SparseMatrix

__all__ = ["BlockDiagonal", "BlockTriangular", "CahouetChabard", "Componentwise", "PressureConvectionDiffusion"]


class BlockDiagonal(Preconditioner):
    """diag(P_u, P_s) for a saddle-point system [[A, B^T], [B, 0]] split at n_u: P_u
    approximates A^-1, P_s the (negated) Schur complement inverse, e.g. a pressure-mass
    Jacobi scaled by the viscosity. Symmetric positive definite when both blocks are
    (the right choice for MINRES)."""

    def __init__(self, n_u: int, velocity: Preconditioner, schur: Preconditioner):
        self.n_u, self.velocity, self.schur = n_u, velocity, schur

    def apply(self, r):
        return torch.cat([self.velocity(r[:, : self.n_u]), self.schur(r[:, self.n_u :])], dim=-1)

    def transpose(self):
        return BlockDiagonal(self.n_u, self.velocity.transpose(), self.schur.transpose())


class BlockTriangular(Preconditioner):
    """Upper block-triangular [[P_u^-1, B^T], [0, -S]]^-1 for [[A, B^T], [B, 0]]
    (for GMRES): z_p = -S^-1 r_p, z_u = P_u (r_u - B^T z_p)."""

    def __init__(
        self,
        n_u: int,
        velocity: Preconditioner,
        schur: Preconditioner,
        Bt: SparseMatrix,
        _lower: bool = False,
    ):
        self.n_u, self.velocity, self.schur, self.Bt, self.lower = n_u, velocity, schur, Bt, _lower

    def apply(self, r):
        ru, rp = r[:, : self.n_u], r[:, self.n_u :]
        if not self.lower:
            zp = -self.schur(rp)
            zu = self.velocity(ru - self.Bt.matvec(zp))
        else:  # transpose: lower block-triangular [[P_u^-T, 0], [B, -S^T]]^-1
            zu = self.velocity(ru)
            zp = -self.schur(rp - self.Bt.T.matvec(zu))
        return torch.cat([zu, zp], dim=-1)

    def transpose(self):
        return BlockTriangular(
            self.n_u, self.velocity.transpose(), self.schur.transpose(), self.Bt, _lower=not self.lower
        )


class Componentwise(Preconditioner):
    """The same scalar preconditioner on each of `n_components` consecutive blocks of n
    unknowns (the velocity components of a vector field, stored component-major)."""

    def __init__(self, scalar: Preconditioner, n_components: int, n: int):
        self.scalar, self.n_components, self.n = scalar, n_components, n

    def apply(self, r):
        B = r.shape[0]
        return self.scalar.apply(r.reshape(B * self.n_components, self.n)).reshape(B, -1)

    def transpose(self):
        return Componentwise(self.scalar.transpose(), self.n_components, self.n)


class CahouetChabard(Preconditioner):
    """Cahouet-Chabard approximation of the inverse Schur complement of the unsteady
    Stokes/Oseen operator: S^-1 r = nu P_M(r) + P_L(r) / dt, with P_M approximating the
    inverse pressure mass matrix and P_L the inverse pressure Laplacian (omit it, and dt,
    for a steady problem: S^-1 = nu P_M)."""

    def __init__(self, mass: Preconditioner, nu: float, laplacian: Preconditioner | None = None,
                 dt: float | None = None):
        if (laplacian is None) != (dt is None):
            raise ValueError("CahouetChabard: give the pressure Laplacian's preconditioner and dt together")
        self.mass, self.nu, self.laplacian, self.dt = mass, nu, laplacian, dt

    def apply(self, r):
        z = self.nu * self.mass.apply(r)
        if self.laplacian is not None:
            z = z + self.laplacian.apply(r) / self.dt
        return z

    def transpose(self):
        lap = None if self.laplacian is None else self.laplacian.transpose()
        return CahouetChabard(self.mass.transpose(), self.nu, lap, self.dt)


class PressureConvectionDiffusion(Preconditioner):
    """Pressure convection-diffusion (PCD) approximation of the inverse Schur complement of
    an Oseen system (Kay, Loghin & Wathen 2002; Elman, Silvester & Wathen 2014, ch. 9):

        S^-1 r ~ P_L(F_p P_M(r)),   F_p = M_p / dt + nu L_p + C_p(w)

    with P_M approximating the inverse pressure mass matrix, P_L the inverse pressure
    Laplacian and F_p the convection-diffusion operator of the pressure space (assembled by
    the caller, e.g. `fem.pressure_convection_diffusion`). Without convection F_p P_M is
    (1/dt) M_p P_M + nu L_p P_M and this is the Cahouet-Chabard preconditioner; with it, the
    Schur approximation follows the flow, so GMRES counts stay bounded as dt grows or the
    problem becomes steady. (Applying P_M last instead, M_p^-1 F_p L_p^-1, is the other
    common order; on the DFG channel this one needed 10-40% fewer iterations.)
    """

    def __init__(self, mass: Preconditioner, operator: SparseMatrix, laplacian: Preconditioner,
                 _transposed: bool = False):
        self.mass, self.operator, self.laplacian, self.transposed = mass, operator, laplacian, _transposed

    def apply(self, r):
        if self.transposed:  # (P_L F_p P_M)^T = P_M^T F_p^T P_L^T
            return self.mass.apply(self.operator.matvec(self.laplacian.apply(r)))
        return self.laplacian.apply(self.operator.matvec(self.mass.apply(r)))

    def transpose(self):
        return PressureConvectionDiffusion(self.mass.transpose(), self.operator.T, self.laplacian.transpose(),
                                           _transposed=not self.transposed)
