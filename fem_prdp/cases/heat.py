"""The heat emulator case: an MLP learns one heat step on a mesh, trained through the mixed
chain (network step, then a capped heat step, loss on the two-step rollout), once with the
PRDP controller and once with fully converged physics, from the same seed. Prints and
saves the savings table, per-epoch metrics, plots and `.vtu` fields."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..fem import FunctionSpace
from ..learn import (
    EmulatorTask,
    FieldMLP,
    GraphFieldModel,
    Trainer,
    cached,
    mesh_to_graph,
    random_fields,
    reference_trajectories,
)
from ..mesh import generate, read_mesh, write_mesh
from ..physics import CappedSolver, HeatStepper
from ..prdp import Converged, PRDPController, savings_report

__all__ = ["HeatConfig", "run_heat", "CASES", "case_config"]


@dataclass
class HeatConfig:
    mesh: str = "rectangle"  # a generator name (fem-prdp mesh generate --help) or a mesh file
    h: float = 0.06
    nu: float = 1.0
    dt: float = 2e-3
    lumped: bool = False  # lumped mass on a uniform mesh = the paper's finite-difference stepper
    n_train: int = 120
    n_val: int = 16
    epochs: int = 30
    batch_size: int = 20
    width: int = 128
    depth: int = 3
    lr: float = 1e-3
    residual: bool = True  # the network predicts the increment u_1 - u_0
    model: str = "mlp"  # "mlp" (FieldMLP) or "gnn" (MeshGraphNet on the mesh's graph)
    gnn_steps: int = 4
    seed: int = 0
    plateau_threshold: float = 0.9  # the authors' heat-2D setting
    ema_window: int = 6


# The cases: heat-1d follows the paper's 1D setting (30 interior FD nodes via lumped P1 on the
# uniform interval, nu dt = 1e-3, MLP 64 x 3, 200 samples, batch 25, 100 epochs, EMA window
# 8, plateau 0.98); heat-2d and heat-3d run on gmsh meshes.
CASES = {
    "heat-1d": HeatConfig(mesh="uniform-interval", h=1 / 31, lumped=True, dt=1e-3, n_train=180, n_val=20,
                          epochs=100, batch_size=25, width=64, depth=3, plateau_threshold=0.98, ema_window=8),
    "heat-2d": HeatConfig(),
    "heat-3d": HeatConfig(mesh="box", h=0.2, dt=1e-2, n_train=120, n_val=16, epochs=30, batch_size=20, width=128),
}
QUICK = {
    "heat-1d": {"n_train": 100, "n_val": 10, "epochs": 25},
    "heat-2d": {"h": 0.12, "n_train": 64, "n_val": 8, "epochs": 20, "batch_size": 8, "width": 64, "lr": 2e-3},
    "heat-3d": {"h": 0.35, "n_train": 48, "n_val": 8, "epochs": 15, "batch_size": 8, "width": 64, "lr": 2e-3},
}


def case_config(name: str, quick: bool = False) -> HeatConfig:
    """The named case's configuration (`quick`: the CI-sized profile)."""
    from dataclasses import replace

    if name not in CASES:
        raise ValueError(f"unknown case {name!r}; known cases: {', '.join(CASES)}")
    return replace(CASES[name], **QUICK[name]) if quick else CASES[name]


def _mesh(cfg: HeatConfig):
    if os.path.exists(cfg.mesh):
        return read_mesh(cfg.mesh)
    return generate(cfg.mesh, cfg.h)


def _train(cfg, V, stepper, data, controller, folder, progress):
    torch.manual_seed(cfg.seed)
    if cfg.model == "gnn":
        graph = mesh_to_graph(V.mesh)
        model = GraphFieldModel(graph, width=cfg.width, steps=cfg.gnn_steps, residual=cfg.residual).double()
    elif cfg.model == "mlp":
        model = FieldMLP(V.n_dofs, width=cfg.width, depth=cfg.depth, residual=cfg.residual).double()
    else:
        raise ValueError(f"heat case: model must be 'mlp' or 'gnn', got {cfg.model!r}")
    task = EmulatorTask(model, stepper)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    trainer = Trainer(task, opt, controller, data[: cfg.n_train], data[cfg.n_train:], cfg.batch_size,
                      checkpoint_dir=folder, seed=cfg.seed, progress=progress)
    trainer.fit(cfg.epochs)
    return trainer, sum(h["epoch_s"] for h in trainer.history)  # resumed runs count every epoch once


def run_heat(cfg: HeatConfig, out_dir: str | os.PathLike, progress: bool = True, case: str = "heat") -> dict:
    """Train PRDP and the converged baseline; returns (and writes) the summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    mesh = _mesh(cfg)
    V = FunctionSpace(mesh, 1)
    walls = {name: 0.0 for name in mesh.boundaries}
    stepper = HeatStepper(V, cfg.nu, cfg.dt, dirichlet=walls, lumped=cfg.lumped, solver=CappedSolver("cg", rtol=1e-8))

    def build():
        u0 = random_fields(V.dof_points, cfg.n_train + cfg.n_val, seed=cfg.seed + 1000)
        u0[:, V.boundary_dofs()] = 0.0
        return reference_trajectories(stepper.step, u0, 2)

    data = cached(out / "cache", {**asdict(cfg), "n_nodes": mesh.n_nodes, "kind": "heat"}, build)
    runs = {}
    prdp_controller = PRDPController(plateau_threshold=cfg.plateau_threshold, ema_window=cfg.ema_window)
    for name, controller in (("prdp", prdp_controller),
                             ("converged", Converged())):
        trainer, seconds = _train(cfg, V, stepper, data, controller, out / name, progress)
        runs[name] = {"trainer": trainer, "seconds": seconds}
    prdp, base = runs["prdp"]["trainer"], runs["converged"]["trainer"]
    k_eps = max(base.k_converged + prdp.k_converged)
    base_iters = base.meter.total().iterations
    prdp_iters = prdp.meter.total().iterations
    summary = {
        "case": case, "config": asdict(cfg), "mesh": repr(mesh), "n_dofs": V.n_dofs, "k_converged": k_eps,
        "prdp": {"k_schedule": prdp.report()["k_schedule"], "iterations": prdp_iters,
                 "final_val_metric": prdp.history[-1]["val_metric"], "wall_s": runs["prdp"]["seconds"],
                 "solver_share": prdp.meter.solver_share()},
        "converged": {"iterations": base_iters, "final_val_metric": base.history[-1]["val_metric"],
                      "wall_s": runs["converged"]["seconds"], "solver_share": base.meter.solver_share()},
        "iteration_savings_vs_converged_run": 1 - prdp_iters / base_iters if base_iters else None,
        "wall_savings_vs_converged_run": 1 - runs["prdp"]["seconds"] / runs["converged"]["seconds"],
        "paper_definition": savings_report(prdp.report()["k_schedule"], k_eps),
    }
    if not (torch.distributed.is_initialized() and torch.distributed.get_rank() != 0):  # rank 0 writes
        tmp = out / f".summary.json.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(summary, indent=1))
        os.replace(tmp, out / "summary.json")
        _plots(out, prdp.history, base.history)
        _fields(out, mesh, prdp, data[cfg.n_train:])
    return summary


def _plots(out: Path, prdp: list[dict], base: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].semilogy([h["val_metric"] for h in prdp], label="PRDP")
    axes[0].semilogy([h["val_metric"] for h in base], label="converged")
    axes[0].set(xlabel="epoch", ylabel="validation nMSE (2-step)", title="accuracy")
    axes[0].legend()
    axes[1].step(range(len(prdp)), [h["k"] for h in prdp], where="post")
    axes[1].set(xlabel="epoch", ylabel="K (CG iterations per solve)", title="PRDP schedule")
    for hist, label in ((prdp, "PRDP"), (base, "converged")):
        cum = torch.cumsum(torch.tensor([h["primal_iters"] + h["adjoint_iters"] for h in hist]), 0)
        axes[2].plot(cum.numpy(), label=label)
    axes[2].set(xlabel="epoch", ylabel="cumulative solver iterations", title="cost")
    axes[2].legend()
    fig.tight_layout()
    tmp = out / ".curves.tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, out / "curves.png")


@torch.no_grad()
def _fields(out: Path, mesh, trainer: Trainer, val: torch.Tensor) -> None:
    u1, u2 = trainer.task.rollout(val[:1, 0], None)
    fields = {"reference_step2": val[0, 2], "predicted_step2": u2[0], "network_step1": u1[0],
              "reference_step1": val[0, 1]}
    write_mesh(mesh.with_data(point_data=fields), out / "fields.vtu")
