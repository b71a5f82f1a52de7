"""`fem-prdp verify physics`: the steppers against exact, published and finite-difference
references. Each row: what was checked, the observed value, the reference, the error."""

from __future__ import annotations

import math

import scipy.sparse as sp
import torch
from tqdm import tqdm

from ..fem import FunctionSpace, error_norms
from ..linalg.stencils import laplacian
from ..mesh import uniform_box, uniform_interval, uniform_rectangle
from ._common import CappedSolver
from .burgers import BurgersStepper
from .dfg import BANDS_2D_1, BANDS_2D_2, dfg_2d_1, dfg_2d_2
from .heat import HeatStepper
from .navier_stokes import NavierStokesStepper
from .reference import GHIA_RE100_U, GHIA_RE1000_U, kovasznay, kovasznay_grad_u
from .steady import steady_state

__all__ = ["verify_physics"]

# DFG 2D-2 in the full check: (h, dt, t_end). The vortex street is periodic to 1e-5 from
# t ~ 5 on; the maxima depend on dt more than on h (experiments/RESULTS.md).
DFG_2D_2_RUN = (0.04, 0.0025, 7.0)

def _row(check, observed, reference, tol) -> dict:
    err = abs(observed - reference)
    return {"check": check, "observed": observed, "reference": reference, "error": err, "ok": err <= tol}


def _heat_rows() -> list[dict]:
    rows = []
    for dim, n in ((1, 32), (2, 16), (3, 8)):
        mesh = {1: uniform_interval, 2: uniform_rectangle, 3: uniform_box}[dim](n)
        V = FunctionSpace(mesh, 1)
        nu, dt, steps = 0.5, 1e-3, 10
        stepper = HeatStepper(V, nu, dt, dirichlet={b: 0.0 for b in mesh.boundaries}, lumped=True)
        u0 = V.interpolate(lambda x: torch.prod(torch.sin(math.pi * x), dim=-1))
        factor = float(stepper.rollout(u0, steps)[-1].max() / u0.max())
        h = 1.0 / n
        discrete = (1 + dt * nu * dim * (4 / h**2) * math.sin(math.pi * h / 2) ** 2) ** -steps
        rows.append(_row(f"heat {dim}D eigenmode decay vs exact discrete rate", factor, discrete, 1e-10))
        rows.append(_row(f"heat {dim}D eigenmode decay vs continuous exp(-d pi^2 nu t)", factor,
                         math.exp(-dim * math.pi**2 * nu * steps * dt), 1e-2))
    n, nu_dt = 12, 1e-3
    V = FunctionSpace(uniform_rectangle(n), 1)
    stepper = HeatStepper(V, 1.0, nu_dt, dirichlet={b: 0.0 for b in V.mesh.boundaries}, lumped=True,
                          solver=CappedSolver("cg", rtol=1e-15))
    u = V.interpolate(lambda x: torch.sin(2 * x[:, 0]) * x[:, 1] * (1 - x[:, 1]) * x[:, 0] * (1 - x[:, 0]))
    grid = u.reshape(n + 1, n + 1)[1:-1, 1:-1].reshape(-1)
    fd = torch.as_tensor((sp.identity((n - 1) ** 2) + nu_dt * n**2 * laplacian(n - 1, 2)).toarray())
    for _ in range(5):
        u, grid = stepper.step(u), torch.linalg.solve(fd, grid)
    diff = float((u.reshape(n + 1, n + 1)[1:-1, 1:-1].reshape(-1) - grid).abs().max())
    rows.append(_row("heat 2D uniform mesh vs FD BTCS trajectory (max difference)", diff, 0.0, 1e-12))
    for scheme in ("btcs", "cn"):
        st = HeatStepper(V, 0.1, 0.05, scheme=scheme, dirichlet={"left": 0.0})
        e = st.energy(st.rollout(torch.rand(V.n_dofs, dtype=torch.float64, generator=torch.Generator().manual_seed(0)), 10))
        rows.append(_row(f"heat {scheme} energy decreases monotonically (1 = yes)",
                         float(bool((e[1:] < e[:-1]).all())), 1.0, 0.0))
    return rows


def _burgers_rows() -> list[dict]:
    nu, T = 0.1, 0.05

    def exact(x, t):
        return torch.sin(math.pi * x[..., 0]) * math.exp(-t)

    def forcing(x, t):
        u = exact(x, t)
        return -u + u * math.pi * torch.cos(math.pi * x[..., 0]) * math.exp(-t) + nu * math.pi**2 * u

    errors = []
    for n in (16, 32, 64):
        V = FunctionSpace(uniform_interval(n), 1)
        steps = max(1, round(T / (0.5 / n**2)))
        st = BurgersStepper(V, nu, T / steps, picard=2, dirichlet={"left": 0.0, "right": 0.0}, forcing=forcing)
        u = V.interpolate(lambda x: exact(x, 0.0))
        for i in range(steps):
            u = st.step(u, t=i * st.dt)  # the forcing at the new time level t + dt
        errors.append(float((u - V.interpolate(lambda x: exact(x, T))).abs().max()))
    order = math.log2(errors[-2] / errors[-1])
    return [_row("burgers 1D manufactured solution, order in h (dt ~ h^2)", order, 2.0, 0.15)]


def _kovasznay_rows() -> list[dict]:
    re = 40.0
    errs = []
    for n in (4, 8):
        mesh = uniform_rectangle(int(1.5 * n), 2 * n, width=1.5, height=2.0)
        ns = NavierStokesStepper(mesh, 1 / re, None, {b: kovasznay for b in mesh.boundaries},
                                 solver=CappedSolver("gmres", rtol=1e-10, restart=200))
        u = steady_state(ns).velocity
        V = ns.th.scalar_velocity
        errs.append(error_norms(V, u[: V.n_dofs], lambda x: kovasznay(x)[..., 0], kovasznay_grad_u))
    return [_row("navier-stokes Kovasznay Re=40, L2 order of u (P2)", math.log2(errs[0][0] / errs[1][0]), 3.0, 0.15),
            _row("navier-stokes Kovasznay Re=40, H1 order of u (P2)", math.log2(errs[0][1] / errs[1][1]), 2.0, 0.15)]


def cavity_steady_state(re: int, n: int = 32) -> tuple[NavierStokesStepper, torch.Tensor]:
    """The lid-driven cavity on the n x n crossed uniform mesh (P2-P1) at steady state:
    Newton's method (after two Picard iterations) at Re = 100; at Re = 1000, where Newton
    from rest does not converge, implicit Euler steps of dt = 5 until the velocity changes
    by less than 1e-4 per step (about 30 steps)."""
    mesh = uniform_rectangle(n, diagonal="crossed")
    walls = {"top": (1.0, 0.0), "left": (0.0, 0.0), "right": (0.0, 0.0), "bottom": (0.0, 0.0)}
    dt = None if re <= 100 else 5.0
    ns = NavierStokesStepper(mesh, 1.0 / re, dt, walls, solver=CappedSolver("gmres", rtol=1e-9, restart=200))
    if dt is None:
        return ns, steady_state(ns, tol=1e-10).velocity
    return ns, steady_state(ns, method="time", tol=1e-4, max_iterations=100).velocity


def _ghia_rows(res=(100, 1000)) -> list[dict]:
    rows = []
    for re in res:
        table = GHIA_RE100_U if re == 100 else GHIA_RE1000_U
        ns, u = cavity_steady_state(re)
        ys = torch.tensor([y for y, _ in table], dtype=torch.float64)
        ref = torch.tensor([v for _, v in table], dtype=torch.float64)
        ours = ns.th.velocity.evaluate(u, torch.stack([torch.full_like(ys, 0.5), ys], 1))[:, 0]
        rows += [_row(f"cavity Re={re} u(0.5, {float(y):.4f}) vs Ghia et al.", float(o), float(r), 0.01)
                 for y, o, r in zip(ys, ours, ref, strict=True)]
        div = float(ns.divergence(u).abs().max())
        rows.append(_row(f"cavity Re={re} max |B u| (discrete divergence) at solver tolerance", div, 0.0, 1e-7))
    return rows


def _band_rows(title: str, result: dict, bands: dict) -> list[dict]:
    """A band [lo, hi] is a row with reference (lo + hi) / 2 and tolerance (hi - lo) / 2."""
    return [_row(f"{title} {name} in [{lo}, {hi}]", result[name], (lo + hi) / 2, (hi - lo) / 2)
            for name, (lo, hi) in bands.items()]


def _dfg_rows(quick: bool, progress: bool) -> list[dict]:
    """DFG 2D-1 (and, unless quick, 2D-2) inside the Schäfer-Turek bands."""
    h = 0.04 if quick else 0.02
    result = dfg_2d_1(h)
    rows = _band_rows(f"DFG 2D-1 (Re 20, h {h}, {result['n_dofs']:,} dofs, Newton)", result, BANDS_2D_1)
    if quick:
        return rows
    h, dt, t_end = DFG_2D_2_RUN
    bar = tqdm(total=round(t_end / dt), desc="DFG 2D-2", unit="step", disable=not progress)
    result = dfg_2d_2(h, dt, t_end, progress=lambda step, steps: bar.update(1))
    bar.close()
    rows += _band_rows(f"DFG 2D-2 (Re 100, h {h}, {result['n_dofs']:,} dofs, BDF2 dt {dt}, t {t_end:g})",
                       result, BANDS_2D_2)
    rows.append(_row("DFG 2D-2 lift amplitude change over the last two periods (periodic)", result["periodic"],
                     0.0, 1e-3))
    return rows


def verify_physics(quick: bool = False, progress: bool = False) -> dict:
    """Every physics check as table rows; `quick` skips the Re = 1000 cavity and DFG 2D-2
    and keeps the coarse DFG 2D-1 mesh only. `progress`: a bar for the DFG 2D-2 run."""
    rows = (_heat_rows() + _burgers_rows() + _kovasznay_rows() + _ghia_rows((100,) if quick else (100, 1000))
            + _dfg_rows(quick, progress))
    return {"rows": rows, "ok": all(r["ok"] for r in rows)}
