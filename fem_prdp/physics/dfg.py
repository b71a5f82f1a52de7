"""The Schäfer-Turek (1996) DFG flow-around-a-cylinder benchmarks, solved with the project's
own solvers: the channel set-up, the quantities the benchmark defines, and its bands.

2D-1 (steady, Re 20): drag and lift coefficients of the cylinder and the pressure
difference between its front (0.15, 0.2) and back (0.25, 0.2).
"""

from __future__ import annotations

import torch

from ..mesh import DFG_2D, DFG_3D, channel_cylinder, channel_cylinder_3d
from ._common import CappedSolver
from .forces import boundary_force, drag_lift_coefficients
from .navier_stokes import NavierStokesStepper
from .steady import steady_state

__all__ = ["NU", "BANDS_2D_1", "dfg_channel", "dfg_channel_3d", "dfg_2d_1"]

NU = 1e-3  # kinematic viscosity; Re = U_mean D / nu with D = 0.1 and U_mean = 2/3 U_max
DIAMETER = 2 * DFG_2D["radius"]
# Schäfer & Turek (1996), Table 4: the bands the participating codes' best results span.
BANDS_2D_1 = {"drag coefficient": (5.57, 5.59), "lift coefficient": (0.0104, 0.0110),
              "pressure difference": (0.1172, 0.1176)}


def dfg_channel(h: float, re: float = 20.0, dt: float | None = None, preconditioner: str = "pcd",
                rtol: float = 1e-8, **kwargs) -> NavierStokesStepper:
    """The DFG 2D channel at Reynolds number `re` (parabolic inflow of peak 1.5 U_mean, no
    slip on the walls and the cylinder, do-nothing outflow); elements h, h / 8 on the
    cylinder. Extra keyword arguments go to `NavierStokesStepper`."""
    u_max, height = 1.5 * re * NU / DIAMETER, DFG_2D["height"]

    def inflow(x):
        return torch.stack([4 * u_max * x[..., 1] * (height - x[..., 1]) / height**2, torch.zeros_like(x[..., 0])], -1)

    return NavierStokesStepper(channel_cylinder(h=h, h_cylinder=h / 8), NU, dt,
                               {"inlet": inflow, "walls": (0.0, 0.0), "cylinder": (0.0, 0.0)},
                               solver=CappedSolver("gmres", rtol=rtol, restart=200, max_iters=3000),
                               preconditioner=preconditioner, **kwargs)


def dfg_channel_3d(h: float, re: float = 20.0, **kwargs) -> NavierStokesStepper:
    """The DFG 3D channel (3D-1Z: steady, Re 20 with U_mean = 4/9 U_max of the inflow
    16 U_max y z (H - y)(H - z) / H^4), steady steps; elements h, h / 2 on the cylinder."""
    u_max, height = 2.25 * re * NU / DIAMETER, DFG_3D["height"]

    def inflow(x):
        y, z = x[..., 1], x[..., 2]
        ux = 16 * u_max * y * z * (height - y) * (height - z) / height**4
        return torch.stack([ux, torch.zeros_like(ux), torch.zeros_like(ux)], -1)

    return NavierStokesStepper(channel_cylinder_3d(h=h), NU, None,
                               {"inlet": inflow, "walls": (0.0, 0.0, 0.0), "cylinder": (0.0, 0.0, 0.0)},
                               solver=CappedSolver("gmres", rtol=1e-8, restart=200, max_iters=3000), **kwargs)


def dfg_2d_1(h: float = 0.04) -> dict:
    """DFG 2D-1 by Newton's method: {"drag coefficient", "lift coefficient", "pressure
    difference", "n_dofs", "newton_iterations", "gmres_iterations" (per Newton step)}."""
    ns = dfg_channel(h)
    state = steady_state(ns, tol=1e-10)
    u_mean = 20.0 * NU / DIAMETER
    c_d, c_l = drag_lift_coefficients(boundary_force(ns.th, state.velocity, state.pressure, NU, "cylinder"),
                                      mean_velocity=u_mean, diameter=DIAMETER)
    front_back = torch.tensor([[0.15, 0.2], [0.25, 0.2]], dtype=state.pressure.dtype)
    p = ns.th.pressure.evaluate(state.pressure, front_back)
    return {"drag coefficient": float(c_d), "lift coefficient": float(c_l), "pressure difference": float(p[0] - p[1]),
            "n_dofs": ns.th.n_dofs, "newton_iterations": state.iterations, "gmres_iterations": state.linear_iterations}

