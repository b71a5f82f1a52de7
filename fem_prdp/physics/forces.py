"""Forces on bodies in a flow, and the DFG benchmark's coefficients.

The force the fluid exerts on a named boundary is computed by the residual (volume)
formulation, which converges faster than integrating the stress over the boundary:
with w_i a velocity test function equal to the unit vector e_i on the boundary's dofs and
zero elsewhere, and R the momentum residual of the discrete solution (u, p),

    F . e_i = -R(u, p; w_i),   R(u, p; v) = (u_t, v) + nu (grad u, grad v) + (u . grad u, v) - (p, div v)

(the boundary term of the weak form is the traction on the fluid, nu du/dn - p n, with n
pointing out of the fluid; on a no-slip wall it equals the full Cauchy traction). The
residual comes from the assembled (not Dirichlet-eliminated) Oseen matrix, so it is
differentiable in u, p and nu through autograd.
"""

from __future__ import annotations

import torch

from ..fem import TaylorHood, assemble_matrix, assemble_oseen, mass

__all__ = ["boundary_force", "drag_lift_coefficients"]


def boundary_force(th: TaylorHood, u: torch.Tensor, p: torch.Tensor, nu, boundary: str, *,
                   u_old: torch.Tensor | None = None, dt: float | None = None,
                   u_older: torch.Tensor | None = None) -> torch.Tensor:
    """Force [dim] (per unit depth in 2D, density 1) that the fluid exerts on `boundary`.

    Args:
        th: the Taylor-Hood spaces of the solution.
        u: velocity dofs [n_u]; p: pressure dofs [n_p] (the pair a steady solve or
            `NavierStokesStepper.step_with_pressure` returns).
        nu: kinematic viscosity (number or per-cell tensor, as the solve used).
        boundary: a boundary name of the mesh (e.g. "cylinder").
        u_old, dt: for a time step, the previous velocity and the step (adds the inertia
            (u - u_old) / dt to the residual); leave both out for a steady solution.
        u_older: for a BDF2 step, the velocity before u_old (inertia (3 u - 4 u_old +
            u_older) / (2 dt), as `NavierStokesStepper(bdf2=True)` steps).

    Raises:
        MeshError: `boundary` is not a boundary of the mesh (the message lists them).
        ValueError: shapes that do not match the spaces, or u_old without dt.
    """
    if u.shape != (th.n_u,) or p.shape != (th.n_p,):
        raise ValueError(f"boundary_force: expected u [{th.n_u}] and p [{th.n_p}], got {tuple(u.shape)} and "
                         f"{tuple(p.shape)}")
    if (u_old is None) != (dt is None):
        raise ValueError("boundary_force: give u_old and dt together (a time step), or neither (steady)")
    if u_older is not None and u_old is None:
        raise ValueError("boundary_force: u_older (a BDF2 step) needs u_old and dt")
    dofs = th.scalar_velocity.boundary_dofs(boundary)  # raises MeshError with the known names
    residual = assemble_oseen(th, nu, velocity=u).matrix.matvec(torch.cat([u, p]))[: th.n_u]
    n_s, dim = th.scalar_velocity.n_dofs, th.mesh.dim
    if dt is not None:
        M = assemble_matrix(mass, th.scalar_velocity)
        rate = (u - u_old) / dt if u_older is None else (3 * u - 4 * u_old + u_older) / (2 * dt)
        residual = residual + M.matvec(rate.reshape(dim, n_s)).reshape(-1)
    return -residual.reshape(dim, n_s)[:, dofs].sum(1)


def drag_lift_coefficients(force: torch.Tensor, mean_velocity: float, diameter: float,
                           height: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(c_D, c_L) = 2 F / (U_mean^2 D) in 2D, or 2 F / (U_mean^2 D H) in 3D (give the
    channel height H), density 1, as the DFG benchmark defines them (Schäfer & Turek 1996:
    2D-1 has U_mean = 0.2, D = 0.1)."""
    scale = mean_velocity**2 * diameter * (1.0 if height is None else height)
    return 2 * force[0] / scale, 2 * force[1] / scale
