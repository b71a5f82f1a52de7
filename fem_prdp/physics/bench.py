"""`fem-prdp bench physics`: time per step and per solver iteration, forward and backward,
at about 1e4, 1e5 and 1e6 dofs (Navier-Stokes at about 1e4 and 1e5 on this 2-core machine)."""

from __future__ import annotations

import torch

from .._timing import median_backward_time, median_time
from ..fem import FunctionSpace
from ..mesh import uniform_rectangle
from ._common import CappedSolver
from .burgers import BurgersStepper
from .heat import HeatStepper
from .navier_stokes import NavierStokesStepper
from .poisson import PoissonProblem

__all__ = ["bench_physics"]


def _measure(name: str, n_dofs: int, stepper, u0: torch.Tensor, k: int, repeats: int) -> dict:
    def forward():
        with torch.no_grad():
            stepper.step(u0, k=k)

    def loss():
        return stepper.step(u0.clone().requires_grad_(True), k=k).square().sum()

    fwd = median_time(forward, repeats)
    bwd = median_backward_time(loss, repeats)
    return {"case": name, "n_dofs": n_dofs, "k": k, "forward_s": fwd, "backward_s": bwd,
            "forward_s_per_iteration": fwd / k}


class _PoissonStep:
    """A Poisson solve for the source f as a `step(f, k)`."""

    def __init__(self, problem: PoissonProblem):
        self.problem = problem

    def step(self, f, k=None):
        return self.problem.solve(f, k=k)


def bench_physics(quick: bool = False, repeats: int = 3, k: int = 20) -> dict:
    walls = {"left": 0.0, "right": 0.0, "bottom": 0.0, "top": 0.0}
    sizes = (32, 100) if quick else (100, 316, 1000)  # P1 nodes ~ 1e4, 1e5, 1e6 (Burgers: 2 components)
    rows = []
    for n in sizes:
        V = FunctionSpace(uniform_rectangle(n), 1)
        u0 = V.interpolate(lambda x: torch.sin(3 * x[:, 0]) * torch.sin(2 * x[:, 1]))
        poisson = PoissonProblem(V, walls, n_modes=1)
        rows.append(_measure("poisson 2D P1 (CG, Jacobi)", V.n_dofs, _PoissonStep(poisson), u0, k, repeats))
        rows.append(_measure("heat 2D P1 BTCS (CG, Jacobi)", V.n_dofs, HeatStepper(V, 1.0, 1e-3, dirichlet=walls),
                             u0, k, repeats))
        burgers = BurgersStepper(V, 0.01, 1e-2, dirichlet=walls, solver=CappedSolver("gmres"))
        rows.append(_measure("burgers 2D P1 (GMRES, Jacobi)", 2 * V.n_dofs, burgers, torch.cat([u0, u0]), k, repeats))
    for n in ((8, 16) if quick else (24, 105)):  # Taylor-Hood dofs ~ 5e3, 1e5
        mesh = uniform_rectangle(n)
        ns = NavierStokesStepper(mesh, 1e-2, 0.1, {"top": (1.0, 0.0), "left": (0.0, 0.0), "right": (0.0, 0.0),
                                                    "bottom": (0.0, 0.0)})
        rows.append(_measure("navier-stokes 2D Taylor-Hood (GMRES, block)", ns.th.n_dofs, ns,
                             torch.zeros(ns.th.n_u, dtype=torch.float64), k, repeats))
    return {"device": "cpu", "torch_threads": torch.get_num_threads(), "rows": rows}
