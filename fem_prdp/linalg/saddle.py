"""Preconditioners for saddle-point systems [[A, B^T], [B, 0]] split at n_u, and the
pieces physics builds them from: the same scalar preconditioner on every component block
of a vector unknown, and the Cahouet-Chabard Schur-complement approximation. Everything
here takes preconditioners and matrices; nothing knows about meshes."""

from __future__ import annotations

import torch

from .precond import Preconditioner
from .sparse import SparseMatrix

__all__ = ["BlockDiagonal", "BlockTriangular", "CahouetChabard", "Componentwise"]


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
