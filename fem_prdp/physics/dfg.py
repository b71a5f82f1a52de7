"""The Schäfer-Turek (1996) DFG flow-around-a-cylinder benchmarks, solved with the project's
own solvers: the channel set-up, the quantities the benchmark defines, and its bands.

2D-1 (steady, Re 20): drag and lift coefficients of the cylinder and the pressure
difference between its front (0.15, 0.2) and back (0.25, 0.2).
2D-2 (periodic, Re 100): the maximum drag and lift coefficients over a period of the
vortex street and the Strouhal number D f / U_mean of its frequency f.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..linalg import SolveStatus, solve_records
from ..mesh import DFG_2D, DFG_3D, channel_cylinder, channel_cylinder_3d
from ._common import CappedSolver
from .forces import boundary_force, drag_lift_coefficients
from .navier_stokes import NavierStokesStepper
from .steady import steady_state

__all__ = ["NU", "BANDS_2D_1", "BANDS_2D_2", "dfg_channel", "dfg_channel_3d", "dfg_2d_1", "dfg_2d_2",
           "periodic_extremes"]

NU = 1e-3  # kinematic viscosity; Re = U_mean D / nu with D = 0.1 and U_mean = 2/3 U_max
DIAMETER = 2 * DFG_2D["radius"]
# Schäfer & Turek (1996), Table 4: the bands the participating codes' best results span.
BANDS_2D_1 = {"drag coefficient": (5.57, 5.59), "lift coefficient": (0.0104, 0.0110),
              "pressure difference": (0.1172, 0.1176)}
# Table 5 (2D-2): maxima over a period of the developed vortex street, and St = D f / U_mean.
BANDS_2D_2 = {"maximum drag coefficient": (3.22, 3.24), "maximum lift coefficient": (0.99, 1.01),
              "Strouhal number": (0.295, 0.305)}


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


def dfg_2d_2(h: float = 0.04, dt: float = 0.01, t_end: float = 8.0, periods: int = 3,
             progress: Callable[[int, int], None] | None = None) -> dict:
    """DFG 2D-2 from rest: BDF2 steps of dt with extrapolated convection (one Oseen solve a
    step, the stepper's preconditioners), c_D and c_L by the residual formulation after
    every step, then `periodic_extremes` over the last `periods` lift periods.

    Returns {"maximum drag coefficient", "maximum lift coefficient", "Strouhal number",
    "periodic" (relative change of the lift amplitude over the last two periods), "n_dofs",
    "steps", "gmres_iterations" (mean per step), "time" [steps] (s), "drag", "lift" [steps]}.
    `progress(step, steps)` is called after each step."""
    re, u_mean = 100.0, 1.0
    ns = dfg_channel(h, re=re, dt=dt, bdf2=True, extrapolate=True, preconditioner="auto")
    th = ns.th
    u = torch.zeros(th.n_u, dtype=torch.float64)
    previous = None
    steps = round(t_end / dt)
    drag, lift, iterations = [], [], 0
    for i in range(steps):
        with solve_records() as records:
            new, p = ns.step_with_pressure(u, previous=previous)
        info = records.infos[-1]
        if info.status != SolveStatus.CONVERGED:
            raise RuntimeError(f"dfg_2d_2: the Oseen solve of step {i + 1} (t = {(i + 1) * dt:g}) ended "
                               f"{info.status.name} after {int(info.n_iters.max())} GMRES iterations; "
                               f"try a smaller dt or a finer mesh")
        iterations += records.totals()["primal"]
        force = boundary_force(th, new, p, NU, "cylinder", u_old=u, dt=dt, u_older=previous)
        c_d, c_l = drag_lift_coefficients(force, mean_velocity=u_mean, diameter=DIAMETER)
        drag.append(float(c_d))
        lift.append(float(c_l))
        previous, u = u, new
        if progress is not None:
            progress(i + 1, steps)
    time = dt * torch.arange(1, steps + 1, dtype=torch.float64)
    result = periodic_extremes(time, torch.tensor(drag), torch.tensor(lift), periods)
    result["Strouhal number"] = DIAMETER * result.pop("frequency") / u_mean
    return {**result, "n_dofs": th.n_dofs, "steps": steps, "gmres_iterations": iterations / steps,
            "time": time, "drag": torch.tensor(drag), "lift": torch.tensor(lift)}


def periodic_extremes(time: torch.Tensor, drag: torch.Tensor, lift: torch.Tensor, periods: int = 3) -> dict:
    """Maxima and frequency of a periodic signal's tail: the lift's upward crossings of its
    mean (linear interpolation between samples) delimit the last `periods` periods; their mean
    length is 1 / frequency; each maximum is that of the parabola through the largest sample
    of the window and its neighbours.

    Args: time, drag, lift: [steps] samples.
    Returns: {"maximum drag coefficient", "maximum lift coefficient", "frequency",
    "periodic"}, "periodic" the relative difference of the last two periods' lift maxima.
    Raises ValueError when the lift has fewer than periods + 2 upward crossings (the window
    needs periods + 1, and one before it keeps the start-up out: run longer)."""
    centred = lift - lift[len(lift) // 2:].mean()
    up = torch.nonzero((centred[:-1] < 0) & (centred[1:] >= 0)).reshape(-1)
    if len(up) < periods + 2:
        raise ValueError(f"periodic_extremes: the lift crosses its mean upwards {len(up)} times, fewer than "
                         f"the {periods + 2} needed for {periods} periods; run longer (a larger t_end)")
    frac = -centred[up] / (centred[up + 1] - centred[up])
    crossings = time[up] + frac * (time[up + 1] - time[up])
    start = int(up[-periods - 1]) + 1
    window = slice(start, int(up[-1]) + 1)

    def peak(signal: torch.Tensor, part: slice) -> float:
        values = signal[part]
        j = int(values.argmax())
        if 0 < j < len(values) - 1:
            a, b, c = (float(v) for v in values[j - 1: j + 2])
            denominator = a - 2 * b + c
            return b - (a - c) ** 2 / (8 * denominator) if denominator < 0 else b
        return float(values[j])

    last = peak(lift, slice(int(up[-2]) + 1, int(up[-1]) + 1))
    before = peak(lift, slice(int(up[-3]) + 1, int(up[-2]) + 1))
    period = float(crossings[-1] - crossings[-periods - 1]) / periods
    return {"maximum drag coefficient": peak(drag, window), "maximum lift coefficient": peak(lift, window),
            "frequency": 1.0 / period, "periodic": abs(last - before) / max(abs(last), math.ulp(1.0))}
