"""Steady incompressible Navier-Stokes: Picard or Newton iterations to the steady state of
a `NavierStokesStepper`'s problem (its spaces, viscosity, boundary conditions, Krylov
solver and Oseen preconditioner; its time step is not used), differentiable by the
implicit function theorem.

Each iteration measures the nonlinear residual R(u, p) = A(u) [u; p] - b of the steady
equations (Dirichlet rows eliminated) and then solves, with the stepper's GMRES and block
preconditioner (built from the Oseen matrix A(u)):

- Picard: A(u) [u_new; p_new] = b (linear convergence, robust);
- Newton: J(u) delta = -R, J = A(u) + the linearised convection (`fem.assemble_newton`),
  with a backtracking line search on ||R|| (quadratic convergence near the solution;
  `picard_start` Picard iterations first give it a start inside its basin).

Gradients: the converged (u*, p*) is detached and returned as x* - J^-1 R(x*; theta), one
more Newton step whose value is x* to solver tolerance and whose derivative in theta (the
viscosity, boundary values) is -J^-1 dR/dtheta, the implicit-function-theorem derivative;
the backward pass is one adjoint solve with J^T. With `k` that solve (and its adjoint) is
capped at k GMRES iterations: the PRDP setting.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..fem import apply_dirichlet, assemble_newton, assemble_oseen
from ..linalg import solve_records
from ._common import check_coefficient, check_state, resolve_dirichlet
from .navier_stokes import NavierStokesStepper

__all__ = ["SteadyState", "SteadyStateError", "steady_state"]

_METHODS = ("newton", "picard", "time")


class SteadyStateError(RuntimeError):
    """The nonlinear iteration did not reach its tolerance; the message holds its history."""


@dataclass
class SteadyState:
    """The steady solution and how it was reached.

    Attributes:
        velocity: [n_u]; pressure: [n_p] (differentiable in the parameters passed).
        residuals: relative nonlinear residual ||R|| / ||R_0|| before each iteration and
            after the last (for method "time": the relative velocity change per step).
        linear_iterations: GMRES iterations of each iteration's solve.
        method: "newton", "picard" or "time".
        converged: whether the residual met tol (always True unless `k` capped the
            solves: then the iteration may stop at max_iterations, as PRDP's coarse
            physics does, and this says so).
    """

    velocity: torch.Tensor
    pressure: torch.Tensor
    residuals: list[float] = field(default_factory=list)
    linear_iterations: list[int] = field(default_factory=list)
    method: str = "newton"
    converged: bool = True

    @property
    def iterations(self) -> int:
        return len(self.linear_iterations)


def _history(values: list[float]) -> str:
    shown = [f"{v:.2e}" for v in values]
    return ", ".join(shown if len(shown) <= 8 else shown[:2] + ["..."] + shown[-6:])


def steady_state(stepper: NavierStokesStepper, u0: torch.Tensor | None = None, *, method: str = "newton",
                 tol: float = 1e-9, max_iterations: int = 50, picard_start: int = 2, k: int | None = None,
                 nu=None, dirichlet: dict | None = None) -> SteadyState:
    """Solve the steady Navier-Stokes equations of `stepper`'s problem.

    Args:
        stepper: a `NavierStokesStepper` (its dt is ignored except by method "time").
        u0: start velocity [n_u] (default zero; boundary values are imposed on it).
        method: "newton" (default), "picard", or "time" (repeat `stepper.step`, i.e.
            pseudo-time stepping with the stepper's dt, until the velocity changes by less
            than tol per step; the old behaviour, for flows Newton cannot start on).
        tol: stop when ||R|| <= tol ||R_0|| (R_0: the residual of the start).
        max_iterations: nonlinear iterations (or time steps) before giving up.
        picard_start: Picard iterations before Newton takes over.
        k: cap on each linear solve's GMRES iterations (None: the stepper's tolerance).
            With a cap, reaching max_iterations returns the last iterate with
            `converged=False` instead of raising (PRDP's coarse physics).
        nu, dirichlet: this solve's viscosity and boundary values (as `stepper.step`),
            differentiable: the returned state carries their gradient.

    Raises:
        SteadyStateError: no convergence within max_iterations (uncapped solves), or a
            non-finite residual; the message lists the residual history and what to change.
    """
    if method not in _METHODS:
        raise ValueError(f"steady_state: method must be one of {_METHODS}, got {method!r}")
    th = stepper.th
    if u0 is not None:
        check_state(u0, th.n_u, "steady_state", "u0")
        if u0.ndim != 1:
            raise ValueError(f"steady_state: one steady state at a time: u0 must be [{th.n_u}], got "
                             f"{tuple(u0.shape)} (loop over a batch)")
    if nu is not None:
        check_coefficient("nu", nu, "steady_state")
    nu = stepper.nu if nu is None else nu
    bc_dofs, bc_values = resolve_dirichlet(th.velocity, stepper.dirichlet, dirichlet, "steady_state")
    if method == "time":
        return _pseudo_time(stepper, u0, tol, max_iterations, k, nu, dirichlet)
    dtype, device = th.velocity.dtype, th.velocity.device
    x = torch.zeros(th.n_dofs, dtype=dtype, device=device)
    if u0 is not None:
        x[: th.n_u] = u0.detach().reshape(-1)
    x[bc_dofs] = bc_values.detach().to(x)

    def residual(state: torch.Tensor, values: torch.Tensor, viscosity):
        """(R(state) [n_dofs], and the Dirichlet-eliminated Oseen matrix and right-hand side at
        state: R = A state - b)."""
        A, b = apply_dirichlet(assemble_oseen(th, viscosity, velocity=state[: th.n_u]).matrix,
                               torch.zeros_like(state), th.velocity, dofs=bc_dofs, values=values)
        if stepper.pin_pressure:
            A, b = apply_dirichlet(A, b, th.velocity, dofs=torch.tensor([th.n_u]), values=0.0)
        return A.matvec(state) - b, A, b

    nu_fixed = nu.detach() if torch.is_tensor(nu) else nu
    values_fixed = bc_values.detach()
    out = SteadyState(x, x, method=method)
    with torch.no_grad():
        R, A, b = residual(x, values_fixed, nu_fixed)
        r0 = float(R.norm())
        out.residuals.append(1.0)
        for it in range(max_iterations + 1):
            rel = float(R.norm()) / r0 if r0 > 0 else 0.0
            if it > 0:
                out.residuals.append(rel)
            if not torch.isfinite(R).all():
                raise SteadyStateError(f"steady_state({method}): the residual became non-finite at iteration "
                                       f"{it} (history {_history(out.residuals)}); lower the Reynolds number, "
                                       "start from a nearby solution (u0=) or use method='picard'")
            if rel <= tol:
                break
            if it == max_iterations and k is not None:
                out.converged = False
                break
            if it == max_iterations:
                raise SteadyStateError(
                    f"steady_state({method}): no steady state after {max_iterations} iterations; relative "
                    f"residuals {_history(out.residuals)} (tol {tol:g}); raise max_iterations, use more "
                    "picard_start iterations, continue from a lower Reynolds number (u0=), or try method='time'")
            P = stepper.oseen_preconditioner(A, x[None, : th.n_u], nu_fixed, None)
            # Both solve for the correction (so the linear rtol is relative to R, not to b,
            # and the nonlinear residual can fall below it): Picard with A, Newton with J.
            newton = method == "newton" and it >= picard_start
            J = _eliminated(assemble_newton(th, nu_fixed, x[: th.n_u]), x, bc_dofs, stepper) if newton else A
            with solve_records() as records:
                delta = stepper.solver(J, -R[None], k, P)[0]
            if newton:
                x, R, A, b = _line_search(x, delta, R, lambda s: residual(s, values_fixed, nu_fixed))
            else:
                x = x + delta
                R, A, b = residual(x, values_fixed, nu_fixed)
            out.linear_iterations.append(records.totals()["primal"])
    # The implicit-function step: value x*, derivative -J^-1 dR/dtheta.
    if torch.is_grad_enabled() and (_requires_grad(nu) or _requires_grad(bc_values)):
        # The boundary values enter x itself (they also convect), so R sees them twice.
        x_theta = x.index_put((bc_dofs,), bc_values.to(x))
        R, _, _ = residual(x_theta, bc_values, nu)
        J = _eliminated(assemble_newton(th, nu_fixed, x[: th.n_u]), x, bc_dofs, stepper)
        P = stepper.oseen_preconditioner(A, x[None, : th.n_u], nu_fixed, None)
        x = x_theta - stepper.solver(J, R[None], k, P)[0]
    out.velocity, out.pressure = x[: th.n_u], x[th.n_u:]
    return out


def _requires_grad(value) -> bool:
    return torch.is_tensor(value) and value.requires_grad


def _eliminated(J, x, bc_dofs, stepper):
    """J with the Dirichlet rows and columns (and a pinned pressure) eliminated: the
    update is zero there, since x already holds the boundary values."""
    th = stepper.th
    J, _ = apply_dirichlet(J, torch.zeros_like(x), th.velocity, dofs=bc_dofs, values=0.0)
    if stepper.pin_pressure:
        J, _ = apply_dirichlet(J, torch.zeros_like(x), th.velocity, dofs=torch.tensor([th.n_u]), values=0.0)
    return J


def _line_search(x, delta, R, residual, halvings: int = 6):
    """x + s delta with the largest s in 1, 1/2, ... that lowers ||R|| (Armijo, 1e-4)."""
    norm = float(R.norm())
    s = 1.0
    for _ in range(halvings):
        trial = x + s * delta
        R_new, A, b = residual(trial)
        if float(R_new.norm()) <= (1 - 1e-4 * s) * norm:
            break
        s /= 2
    return trial, R_new, A, b


def _pseudo_time(stepper, u0, tol, max_steps, k, nu, dirichlet) -> SteadyState:
    th = stepper.th
    u = torch.zeros(th.n_u, dtype=th.velocity.dtype, device=th.velocity.device) if u0 is None else u0
    out = SteadyState(u, u, method="time")
    for _ in range(max_steps):
        with solve_records() as records:
            new, p = stepper.step_with_pressure(u, k, nu=nu, dirichlet=dirichlet)
        out.linear_iterations.append(records.totals()["primal"])
        out.residuals.append(float((new - u).norm() / new.norm()))
        u = new
        if out.residuals[-1] < tol:
            out.velocity, out.pressure = u, p
            return out
    if k is not None:
        out.velocity, out.pressure, out.converged = u, p, False
        return out
    raise SteadyStateError(f"steady_state(time): no steady state after {max_steps} steps; relative velocity "
                           f"changes {_history(out.residuals)} (tol {tol:g}); raise max_iterations, lower the "
                           "Reynolds number or change dt")
