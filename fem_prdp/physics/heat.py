"""The heat equation u_t = div(nu grad u) with implicit Euler (BTCS) or Crank-Nicolson.

    (M + theta dt K) u_new = (M - (1 - theta) dt K) u_old,   theta = 1 (BTCS) or 1/2 (CN)

M is the (optionally lumped) mass and K the stiffness with diffusivity nu (a number, a
per-cell tensor, or a `Field`). With lumped mass on the uniform special meshes this is the
classic finite-difference BTCS stepper (scaled by h^dim). Dirichlet boundaries are held at
their values; unnamed boundaries are insulated (zero flux).
"""

from __future__ import annotations

import torch

from ..fem import (
    FunctionSpace,
    assemble_matrix,
    dirichlet_conditions,
    lumped_mass,
    mass,
    prepare_dirichlet,
    stiffness,
)
from ..linalg import AMG, Jacobi
from ._common import CappedSolver, check_positive, check_state

__all__ = ["HeatStepper"]

_THETA = {"btcs": 1.0, "cn": 0.5}


class HeatStepper:
    """One differentiable heat step whose linear solve is capped at k.

    Args:
        space: scalar `FunctionSpace`.
        nu: diffusivity (> 0): number, per-cell tensor [n_cells], or `Field`.
        dt: time step (> 0).
        scheme: "btcs" or "cn".
        dirichlet: {boundary name: value} held fixed (number or callable of points).
        lumped: lumped mass (P1 only; the finite-difference equivalent on uniform meshes).
        solver: a `CappedSolver` (default CG, rtol 1e-10, implicit gradients).
        precond: "jacobi" (default; with solver "richardson" the Jacobi method) or "amg"
            (a smoothed-aggregation V-cycle, built once: for large meshes).
    """

    def __init__(self, space: FunctionSpace, nu, dt: float, scheme: str = "btcs",
                 dirichlet: dict | None = None, lumped: bool = False, solver: CappedSolver | None = None,
                 precond: str = "jacobi"):
        check_positive("dt", dt, "HeatStepper")
        if not hasattr(nu, "space"):
            check_positive("nu", nu, "HeatStepper")
        if precond not in ("jacobi", "amg"):
            raise ValueError(f"HeatStepper: precond must be 'jacobi' or 'amg', got {precond!r}")
        if scheme not in _THETA:
            raise ValueError(f"HeatStepper: scheme must be one of {sorted(_THETA)}, got {scheme!r}")
        self.space, self.dt, self.scheme, self.theta = space, dt, scheme, _THETA[scheme]
        self.solver = solver or CappedSolver("cg")
        self.dirichlet = dict(dirichlet or {})
        self._bc_dofs, self._bc_values = dirichlet_conditions(space, self.dirichlet)
        M = lumped_mass(space) if lumped else assemble_matrix(mass, space)
        K = assemble_matrix(stiffness, space, kappa=nu)
        if M.pattern is not K.pattern:  # lumped mass shares the pattern; keep one
            raise RuntimeError("HeatStepper: mass and stiffness patterns differ")
        self.M, self.K = M, K
        self.A = K.with_values(M.values + self.theta * dt * K.values)
        self.B = K.with_values(M.values - (1 - self.theta) * dt * K.values)
        # The step matrix is fixed: eliminate the Dirichlet dofs once, lift each rhs cheaply.
        self._system = prepare_dirichlet(self.A, space, self._bc_dofs, self._bc_values)
        self.precond = (AMG if precond == "amg" else Jacobi)(self._system.matrix)

    def step(self, u: torch.Tensor, k: int | None = None, x0: torch.Tensor | None = None) -> torch.Tensor:
        """u_old [n] or [B, n] -> u_new, with the solve capped at k (None: to tolerance).
        Inner solves start from zero unless x0 is given (e.g. x0=u for a warm start)."""
        check_state(u, self.space.n_dofs, "HeatStepper.step")
        b = self._system.rhs(self.B.matvec(u))
        return self.solver(self._system.matrix, b, k, self.precond, x0)

    def rollout(self, u0: torch.Tensor, n_steps: int, k: int | None = None) -> torch.Tensor:
        """[n_steps + 1, ...] trajectory from u0."""
        out = [u0]
        for _ in range(n_steps):
            out.append(self.step(out[-1], k))
        return torch.stack(out)

    def energy(self, u: torch.Tensor) -> torch.Tensor:
        """0.5 u^T M u per sample."""
        return 0.5 * (u * self.M.matvec(u)).sum(-1)
