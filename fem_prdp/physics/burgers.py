"""Viscous Burgers' equation u_t + (u . grad) u = nu Lap u (+ f), scalar in 1D, vector in
2D/3D, implicit Euler with the convection linearised at the previous iterate:

    (M / dt + nu K + C(w)) u_new = M u_old / dt + F,   w = u_old, then (Picard) w = u_new

C(w) is the convection matrix (w . grad u, v); the matrix depends on the state, so each
sample gets its own matrix on the shared pattern (values [B, nnz]); the components of a
vector field share their sample's matrix. Solved with GMRES (default) or BiCGStab.
"""

from __future__ import annotations

import torch

from ..fem import (
    Field,
    FunctionSpace,
    advection,
    apply_dirichlet,
    assemble_matrix,
    assemble_vector,
    dirichlet_conditions,
    mass,
    source,
    stiffness,
)
from ..linalg import Jacobi
from ._common import CappedSolver, check_coefficient, check_positive, check_state

__all__ = ["BurgersStepper"]


class BurgersStepper:
    """One differentiable implicit Burgers step with capped nonsymmetric solves.

    Args:
        space: scalar `FunctionSpace` (1D: the state is scalar; 2D/3D: the state is a vector
            field with one scalar block per component, [dim * n_dofs]).
        nu: viscosity (> 0). dt: time step (> 0).
        picard: linearisation passes per step (1 = the paper's single linearisation).
        dirichlet: {boundary name: value} (number, or callable of points -> [N] or [N, dim]).
        forcing: optional f(x [..., dim], t) -> [...] (1D) or [..., dim], for manufactured
            solutions; evaluated at the new time level t + dt (`step(..., t=)` gives t).
        solver: a `CappedSolver` (default GMRES(30)).
    """

    def __init__(self, space: FunctionSpace, nu: float, dt: float, picard: int = 1,
                 dirichlet: dict | None = None, forcing=None, solver: CappedSolver | None = None):
        check_coefficient("nu", nu, "BurgersStepper")
        check_positive("dt", dt, "BurgersStepper")
        if space.shape != ():
            raise ValueError("BurgersStepper: pass the scalar space; vector states are blocked per component")
        if not isinstance(picard, int) or picard < 1:
            raise ValueError(f"BurgersStepper: picard must be an int >= 1, got {picard!r}")
        self.space, self.nu, self.dt, self.picard, self.forcing = space, nu, dt, picard, forcing
        self.dim = space.dim
        self.n_components = 1 if self.dim == 1 else self.dim
        self.n_state = space.n_dofs * self.n_components
        self.vector_space = FunctionSpace(space.mesh, space.degree, shape=(self.dim,), dtype=space.dtype,
                                          device=space.device)
        self.solver = solver or CappedSolver("gmres")
        # Resolved once per component (overlapping boundaries: the later name wins).
        self._bc = [dirichlet_conditions(space, {name: self._component_values(v, c) for name, v in (dirichlet or {}).items()})
                    for c in range(self.n_components)]
        self.M = assemble_matrix(mass, space)
        self.base = self._base(nu)

    def _base(self, nu) -> torch.Tensor:
        """Values of M / dt + nu K (nu a number, per-cell tensor or `Field`)."""
        if isinstance(nu, (int, float)):  # nu * K as before: recorded runs reproduce bit for bit
            return self.M.values / self.dt + nu * assemble_matrix(stiffness, self.space).values
        return self.M.values / self.dt + assemble_matrix(stiffness, self.space, kappa=nu).values

    def _velocity_field(self, w: torch.Tensor) -> Field:
        # In 1D the scalar state is its own (1-component) velocity.
        return Field(self.vector_space, w)

    def _component_values(self, value, c: int):
        if callable(value):
            def g(x, value=value, c=c):
                out = value(x)
                return out if self.dim == 1 else out[..., c]
            return g
        return value

    def step(self, u: torch.Tensor, k: int | None = None, x0: torch.Tensor | None = None, *,
             nu=None, t: float = 0.0) -> torch.Tensor:
        """u_old [n_state] or [B, n_state] -> u_new; each Picard pass is one capped solve.

        Args:
            x0: start of the (first Picard pass's) solve, shaped like u (default zeros).
            nu: this step's viscosity instead of the constructor's (differentiable): number,
                per cell [n_cells] or [B, n_cells], or a `Field`.
            t: time of u_old; the forcing is evaluated at t + dt.
        """
        check_state(u, self.n_state, "BurgersStepper.step")
        if x0 is not None:
            check_state(x0, self.n_state, "BurgersStepper.step", "x0")
        if nu is not None:
            check_coefficient("nu", nu, "BurgersStepper.step")
        base = self.base if nu is None else self._base(nu)
        batched = u.ndim == 2
        U = u if batched else u.unsqueeze(0)
        B, n = U.shape[0], self.space.n_dofs
        comps = U.reshape(B, self.n_components, n)
        rhs = self.M.matvec(comps.reshape(-1, n)).reshape(B, self.n_components, n) / self.dt
        if self.forcing is not None:
            t_new = t + self.dt
            for c in range(self.n_components):
                fc = self._component_values(lambda x: self.forcing(x, t_new), c)
                rhs[:, c] = rhs[:, c] + assemble_vector(source, self.space, f=fc)
        w = U
        for _ in range(self.picard):
            C = assemble_matrix(advection, self.space, velocity=self._velocity_field(w))
            A = self.M.with_values(base + C.values)  # [B, nnz]
            # Every component of a sample shares the sample's matrix: batch B * n_components.
            A = A.with_values(A.values.repeat_interleave(self.n_components, dim=0))
            b = rhs.reshape(B * self.n_components, n)
            if self._bc and len(self._bc[0][0]):
                dofs = self._bc[0][0]  # the same boundary dofs for every component
                g = torch.stack([vals for _, vals in self._bc]).repeat(B, 1)  # [B * n_components, n_bc]
                A, b = apply_dirichlet(A, b, self.space, dofs=dofs, values=g)
            start = None if x0 is None else x0.reshape(-1, self.n_state).expand(B, -1).reshape(B * self.n_components, n)
            x = self.solver(A, b, k, Jacobi(A), start)
            x0 = None  # later Picard passes start from zero, as the first does by default
            w = x.reshape(B, self.n_components * n)
        return w if batched else w[0]
