"""`fem-prdp bench physics` (Oseen part): GMRES iterations and seconds per Oseen solve on
the DFG 2D-1 channel against mesh size and Reynolds number (and on the lid-driven cavity
at Re 100, 400 and 1000), with the convection-aware
preconditioner (AIR velocity multigrid + pressure convection-diffusion, the default) and
the earlier one (smoothed-aggregation AMG + Cahouet-Chabard) side by side, and the time
of the Newton steady solve that produced each linearisation point."""

from __future__ import annotations

import time

import torch

from ..fem import apply_dirichlet, assemble_oseen, dirichlet_conditions
from ..linalg import GMRES, solve
from ..mesh import uniform_rectangle
from ._common import CappedSolver
from .dfg import NU, dfg_channel, dfg_channel_3d
from .navier_stokes import NavierStokesStepper
from .steady import steady_state

__all__ = ["oseen_rows", "cavity_rows", "steady_3d_row"]


def _oseen_row(ns, case: str, re: float, h: float, state, newton_s: float, old_cap: int, make_old) -> list[dict]:
    """The Oseen system of `ns` linearised at the steady `state` (its Dirichlet values
    eliminated, a pinned pressure for enclosed flows), solved to rtol 1e-8 from zero with
    the new ("pcd") and the old ("cahouet-chabard", capped at `old_cap`) preconditioner."""
    th = ns.th
    dofs, values = dirichlet_conditions(th.velocity, ns.dirichlet)
    A, b = apply_dirichlet(assemble_oseen(th, ns.nu, velocity=state.velocity).matrix,
                           torch.zeros(th.n_dofs, dtype=torch.float64), th.velocity, dofs=dofs, values=values)
    if ns.pin_pressure:
        A, b = apply_dirichlet(A, b, th.velocity, dofs=torch.tensor([th.n_u]), values=0.0)
    rows = []
    for name in ("pcd", "cahouet-chabard"):
        stepper = ns if name == "pcd" else make_old()
        t0 = time.perf_counter()
        P = stepper.oseen_preconditioner(A, state.velocity[None], ns.nu, None)
        setup = time.perf_counter() - t0
        cap = 3000 if name == "pcd" else old_cap
        _, info = solve(A, b, GMRES(rtol=1e-8, max_iters=cap, restart=200), P)
        rows.append({"case": case, "n_dofs": th.n_dofs, "h": h, "re": re,
                     "preconditioner": name, "gmres_iterations": int(info.n_iters.max()),
                     "status": info.status.name, "relative_residual": float(info.relative_residual.max()),
                     "setup_s": setup, "solve_s": info.seconds,
                     "newton_s": newton_s, "newton_iterations": state.iterations,
                     "newton_linear_iterations": state.linear_iterations})
    return rows


def oseen_rows(quick: bool = False, old_cap: int = 600, on_row=None) -> list[dict]:
    """One row per (mesh, Re, preconditioner): the Oseen system linearised at the Newton
    steady state, solved to rtol 1e-8 from zero. The old preconditioner is capped at
    `old_cap` iterations (it needed ~2000 at 12k dofs). `on_row(row)` sees each row as
    it is measured."""
    rows = []
    for h in ((0.12,) if quick else (0.04, 0.02, 0.013)):  # ~12k, 45k, 105k dofs
        for re in ((20,) if quick else (20, 100)):
            ns = dfg_channel(h, re)
            t0 = time.perf_counter()
            state = steady_state(ns, tol=1e-9)
            newton_s = time.perf_counter() - t0
            for row in _oseen_row(ns, f"DFG 2D channel Re {re}", re, h, state, newton_s, old_cap,
                                  lambda: dfg_channel(h, re, preconditioner="cahouet-chabard")):  # noqa: B023
                rows.append(row)
                if on_row is not None:
                    on_row(row)
    return rows


def cavity_rows(quick: bool = False, n: int | None = None, old_cap: int = 600, on_row=None) -> list[dict]:
    """The lid-driven cavity (n x n crossed cells, P2-P1; default 32, quick 12) at Re 100,
    400 and 1000 (`quick`: 100 only): Newton steady states by continuation in Re (each from
    the previous one; Newton from rest does not converge at Re 1000), and the Oseen row at
    each."""
    n = n or (12 if quick else 32)
    mesh = uniform_rectangle(n, diagonal="crossed")
    walls = {"top": (1.0, 0.0), "left": (0.0, 0.0), "right": (0.0, 0.0), "bottom": (0.0, 0.0)}
    solver = CappedSolver("gmres", rtol=1e-9, restart=200, max_iters=3000)
    rows, u = [], None
    for re in ((100,) if quick else (100, 400, 1000)):
        ns = NavierStokesStepper(mesh, 1.0 / re, None, walls, solver=solver, preconditioner="pcd")
        t0 = time.perf_counter()
        state = steady_state(ns, u, tol=1e-9)
        newton_s, u = time.perf_counter() - t0, state.velocity
        old = lambda: NavierStokesStepper(mesh, 1.0 / re, None, walls, preconditioner="cahouet-chabard")  # noqa: E731, B023
        for row in _oseen_row(ns, f"lid-driven cavity Re {re}", re, 1.0 / n, state, newton_s, old_cap, old):
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return rows


def steady_3d_row(h: float = 0.1) -> dict:
    """The 3D DFG channel at Re 20 (3D-1Z) by Newton: size, nonlinear and GMRES iterations,
    seconds, and the drag coefficient (2 F_x / (U_mean^2 D H))."""
    from .dfg import DIAMETER
    from .forces import boundary_force, drag_lift_coefficients

    ns = dfg_channel_3d(h)
    t0 = time.perf_counter()
    state = steady_state(ns, tol=1e-8)
    seconds = time.perf_counter() - t0
    force = boundary_force(ns.th, state.velocity, state.pressure, NU, "cylinder")
    c_d, c_l = drag_lift_coefficients(force, 20 * NU / DIAMETER, DIAMETER, height=0.41)
    return {"case": "DFG 3D channel Re 20 (steady, Newton)", "n_dofs": ns.th.n_dofs, "h": h,
            "newton_iterations": state.iterations, "gmres_iterations": state.linear_iterations,
            "newton_s": seconds, "drag_coefficient": float(c_d), "lift_coefficient": float(c_l)}
