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
    apply_dirichlet,
    assemble_matrix,
    dirichlet_conditions,
    lumped_mass,
    mass,
    prepare_dirichlet,
    stiffness,
)
from ..linalg import AMG, Jacobi
from ._common import CappedSolver, check_coefficient, check_positive, check_state, resolve_dirichlet

__all__ = ["HeatStepper"]

_THETA = {"btcs": 1.0, "cn": 0.5}


class HeatStepper:
    """One differentiable heat step whose linear solve is capped at k (the physics contract
    of `fem_prdp.physics.contract`).

    Args:
        space: scalar `FunctionSpace`.
        nu: diffusivity (> 0): number, per-cell tensor [n_cells], or `Field`.
        dt: time step (> 0).
        scheme: "btcs" or "cn".
        dirichlet: {boundary name: value} held fixed (number or callable of points).
        lumped: lumped mass (P1 only; the finite-difference equivalent on uniform meshes).
        solver: a `CappedSolver` (default CG, rtol 1e-10, implicit gradients).
        precond: "jacobi" (default; with solver "richardson" the Jacobi method) or "amg"
            (a smoothed-aggregation V-cycle of the constructor's matrix, built once: for
            large meshes; it also preconditions steps with a per-call `nu`).
    """

    def __init__(self, space: FunctionSpace, nu, dt: float, scheme: str = "btcs",
                 dirichlet: dict | None = None, lumped: bool = False, solver: CappedSolver | None = None,
                 precond: str = "jacobi"):
        check_positive("dt", dt, "HeatStepper")
        check_coefficient("nu", nu, "HeatStepper")
        if precond not in ("jacobi", "amg"):
            raise ValueError(f"HeatStepper: precond must be 'jacobi' or 'amg', got {precond!r}")
        if scheme not in _THETA:
            raise ValueError(f"HeatStepper: scheme must be one of {sorted(_THETA)}, got {scheme!r}")
        self.space, self.dt, self.scheme, self.theta = space, dt, scheme, _THETA[scheme]
        self.n_state = space.n_dofs
        self.solver = solver or CappedSolver("cg")
        self.dirichlet = dict(dirichlet or {})
        self.precond_kind = precond
        self._bc_dofs, self._bc_values = dirichlet_conditions(space, self.dirichlet)
        self.M = lumped_mass(space) if lumped else assemble_matrix(mass, space)
        self.K = self._stiffness(nu)
        self.A, self.B = self._step_matrices(self.K)
        # The step matrix is fixed: eliminate the Dirichlet dofs once, lift each rhs cheaply.
        self._system = prepare_dirichlet(self.A, space, self._bc_dofs, self._bc_values)
        self.precond = (AMG if precond == "amg" else Jacobi)(self._system.matrix)

    def _stiffness(self, nu):
        K = assemble_matrix(stiffness, self.space, kappa=nu)
        if K.pattern is not self.M.pattern:  # lumped mass shares the pattern; keep one
            raise RuntimeError("HeatStepper: mass and stiffness patterns differ")
        return K

    def _step_matrices(self, K):
        M = self.M.values
        return (K.with_values(M + self.theta * self.dt * K.values),
                K.with_values(M - (1 - self.theta) * self.dt * K.values))

    def step(self, u: torch.Tensor, k: int | None = None, x0: torch.Tensor | None = None, *,
             nu=None, source: torch.Tensor | None = None, dirichlet: dict | None = None) -> torch.Tensor:
        """u_old [n] or [B, n] -> u_new, with the solve capped at k (None: to tolerance).

        Args:
            x0: start of the solve (default zeros; e.g. x0=u for a warm start).
            nu: this step's diffusivity instead of the constructor's (differentiable):
                number, per cell [n_cells] or [B, n_cells], or a `Field` of dof values.
            source: nodal heat source f [n] or [B, n] at the new time level (adds dt M f to
                the right-hand side; differentiable).
            dirichlet: {boundary name: value} for boundaries named in the constructor, this
                step only (number, callable, or a tensor [n_dofs of that boundary],
                differentiable).
        """
        check_state(u, self.space.n_dofs, "HeatStepper.step")
        if nu is None and dirichlet is None:
            A, b, precond = self._system.matrix, self._system.rhs(self._rhs(u, self.B, source)), self.precond
        else:
            A, B = (self.A, self.B) if nu is None else self._step_matrices(self._stiffness(nu))
            dofs, values = resolve_dirichlet(self.space, self.dirichlet, dirichlet, "HeatStepper.step")
            A, b = apply_dirichlet(A, self._rhs(u, B, source), self.space, dofs=dofs, values=values)
            precond = self.precond if self.precond_kind == "amg" else Jacobi(A)
        return self.solver(A, b, k, precond, x0)

    def _rhs(self, u, B, source):
        b = B.matvec(u)
        if source is not None:
            check_state(source, self.space.n_dofs, "HeatStepper.step", "source")
            b = b + self.dt * self.M.matvec(source)
        return b

    def rollout(self, u0: torch.Tensor, n_steps: int, k: int | None = None, **params) -> torch.Tensor:
        """[n_steps + 1, ...] trajectory from u0 (the same per-call parameters every step)."""
        out = [u0]
        for _ in range(n_steps):
            out.append(self.step(out[-1], k, **params))
        return torch.stack(out)

    def energy(self, u: torch.Tensor) -> torch.Tensor:
        """0.5 u^T M u per sample."""
        return 0.5 * (u * self.M.matvec(u)).sum(-1)
