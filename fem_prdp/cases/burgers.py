"""The Burgers emulator cases: a surrogate learns one viscous Burgers step through the
mixed chain (network step, then a capped nonsymmetric GMRES step whose matrix depends on
the state). `burgers` is 1D on the uniform interval; `burgers-2d` is the vector equation on
a gmsh mesh. As in the paper, PRDP starts above K = 1 (too few GMRES iterations give
gradients that derail training)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..fem import FunctionSpace
from ..learn import EmulatorTask, cached, random_fields, reference_trajectories
from ..physics import BurgersStepper, CappedSolver
from .runner import CaseConfig, Experiment, data_key, field_model, load_mesh

__all__ = ["BurgersConfig", "burgers_experiment"]


@dataclass
class BurgersConfig(CaseConfig):
    mesh: str = "uniform-interval"
    h: float = 1 / 64
    nu: float = 0.01
    dt: float = 0.02
    amplitude: float = 1.0
    solver: str = "gmres"  # or "bicgstab"
    n_train: int = 120
    n_val: int = 16
    epochs: int = 40
    batch_size: int = 20
    width: int = 128
    k_min: int = 4


def burgers_experiment(cfg: BurgersConfig, out: Path) -> Experiment:
    mesh = load_mesh(cfg.mesh, cfg.h)
    V = FunctionSpace(mesh, 1, **cfg.physics)
    walls = {name: 0.0 for name in mesh.boundaries}
    stepper = BurgersStepper(V, cfg.nu, cfg.dt, dirichlet=walls, solver=CappedSolver(cfg.solver, rtol=cfg.rtol(1e-10), restart=50))
    n_comp = stepper.n_components

    def build():
        n = cfg.n_train + cfg.n_val
        comps = [random_fields(V.dof_points.cpu(), n, seed=cfg.seed + 2000 + c, amplitude=cfg.amplitude)
                 for c in range(n_comp)]
        for u in comps:
            u[:, V.boundary_dofs().cpu()] = 0.0
        u0 = torch.cat(comps, dim=1).to(cfg.device)
        return reference_trajectories(stepper.step, u0, 2).cpu()

    key = data_key(cfg, mesh, kind="burgers")
    data = cached(out / "cache", key, build).to(cfg.device)

    def fields(task, val):
        _, u2 = task.rollout(val[:1, 0], None)
        n = V.n_dofs
        out = {}
        for c in range(n_comp):
            out[f"reference_step2_{c}"] = val[0, 2, c * n:(c + 1) * n]
            out[f"predicted_step2_{c}"] = u2[0, c * n:(c + 1) * n]
        return out

    return Experiment(mesh, stepper.n_state, data, cfg.n_train,
                      lambda: EmulatorTask(field_model(cfg, mesh, stepper.n_state), stepper), fields=fields,
                      notes={"solver": f"{cfg.solver} + Jacobi, implicit gradients"})


CASES = {
    "burgers": BurgersConfig(),
    "burgers-2d": BurgersConfig(mesh="rectangle", h=0.08, nu=0.02, dt=0.02, amplitude=0.5, width=128),
}
QUICK = {
    "burgers": {"h": 1 / 32, "n_train": 48, "n_val": 8, "epochs": 15, "batch_size": 8, "width": 64, "lr": 2e-3},
    "burgers-2d": {"h": 0.2, "n_train": 32, "n_val": 8, "epochs": 12, "batch_size": 8, "width": 64, "lr": 2e-3},
}
PAPER = {}
