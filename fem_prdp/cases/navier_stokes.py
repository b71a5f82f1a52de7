"""The Navier-Stokes correction case (solver in the loop): a network corrects a coarse
Navier-Stokes step, u <- P_K(u) + net(P_K(u)), unrolled two steps, against a reference that
takes `substeps` smaller steps with more Picard iterations on the same mesh. The coarse step
is a capped GMRES solve of the Taylor-Hood Oseen system with the block-triangular
preconditioner; K counts GMRES inner iterations. The flow decays in a closed box (no-slip
walls) from random divergence-free initial velocities, like the paper's decaying flow."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..fem import TaylorHood
from ..learn import CorrectionTask, FieldMLP, cached, random_fields, reference_trajectories
from ..physics import CappedSolver, NavierStokesStepper, divergence_free_projection
from .runner import CaseConfig, Experiment, load_mesh

__all__ = ["NavierStokesConfig", "navier_stokes_experiment"]


@dataclass
class NavierStokesConfig(CaseConfig):
    mesh: str = "rectangle"
    h: float = 0.1
    nu: float = 0.01  # Re = 100 for unit velocity and box
    dt: float = 0.1
    substeps: int = 4  # reference: dt / substeps ...
    reference_picard: int = 2  # ... and this many Picard iterations per step
    unroll: int = 2
    amplitude: float = 1.0
    n_train: int = 48
    n_val: int = 8
    epochs: int = 30
    batch_size: int = 8
    width: int = 256
    depth: int = 2
    plateau_threshold: float = 0.95  # the authors' Navier-Stokes setting
    k_min: int = 1


class _Reference:
    """`substeps` converged fine steps per coarse step."""

    def __init__(self, stepper: NavierStokesStepper, substeps: int):
        self.stepper, self.substeps = stepper, substeps

    def step(self, u):
        for _ in range(self.substeps):
            u = self.stepper.step(u)
        return u


def navier_stokes_experiment(cfg: NavierStokesConfig, out: Path) -> Experiment:
    if cfg.model != "mlp":
        raise ValueError("navier-stokes: the velocity state has several values per node; use --model mlp")
    mesh = load_mesh(cfg.mesh, cfg.h)
    th = TaylorHood(mesh, device=cfg.device)
    walls = {name: tuple([0.0] * mesh.dim) for name in mesh.boundaries}
    coarse = NavierStokesStepper(None, cfg.nu, cfg.dt, walls, spaces=th,
                                 solver=CappedSolver("gmres", rtol=1e-9, restart=50))

    def build():
        fine = NavierStokesStepper(None, cfg.nu, cfg.dt / cfg.substeps, walls, picard=cfg.reference_picard, spaces=th)
        n = cfg.n_train + cfg.n_val
        pts = th.scalar_velocity.dof_points.cpu()
        raw = torch.cat([random_fields(pts, n, seed=cfg.seed + 3000 + c, amplitude=cfg.amplitude)
                         for c in range(mesh.dim)], dim=1).to(cfg.device)
        u0 = divergence_free_projection(th, raw, no_penetration=tuple(mesh.boundaries))
        return reference_trajectories(_Reference(fine, cfg.substeps).step, u0, cfg.unroll).cpu()

    key = {**asdict(cfg), "n_nodes": mesh.n_nodes, "kind": "navier-stokes"}
    data = cached(out / "cache", key, build).to(cfg.device)

    def make_task():
        # The correction starts near zero: the coarse solver alone is the initial model.
        model = FieldMLP(th.n_u, width=cfg.width, depth=cfg.depth).double().to(cfg.device)
        with torch.no_grad():
            model.net[-1].weight.mul_(1e-3)
            model.net[-1].bias.zero_()
        return CorrectionTask(model, coarse, m=cfg.unroll)

    def fields(task, val):
        n_s = th.scalar_velocity.n_dofs
        corrected = task.rollout(val[:1, 0], None)[0, -1]
        coarse_only = val[0, 0]
        for _ in range(cfg.unroll):
            coarse_only = coarse.step(coarse_only)
        out = {}
        for name, u in (("reference", val[0, cfg.unroll]), ("corrected", corrected), ("coarse", coarse_only)):
            for c in range(mesh.dim):  # P2 vertex dofs come first: the mesh nodes' values
                out[f"{name}_u{c}"] = u[c * n_s:c * n_s + mesh.n_nodes]
        return out

    return Experiment(mesh, th.n_u, data, cfg.n_train, make_task, fields=fields,
                      notes={"solver": "GMRES(50) + block-triangular (AMG, Cahouet-Chabard), implicit gradients",
                             "reference": f"{cfg.substeps} steps of dt/{cfg.substeps}, {cfg.reference_picard} Picard"})


CASES = {"navier-stokes": NavierStokesConfig()}
QUICK = {"navier-stokes": {"h": 0.2, "n_train": 24, "n_val": 4, "epochs": 10, "batch_size": 8, "width": 64}}
PAPER = {}
