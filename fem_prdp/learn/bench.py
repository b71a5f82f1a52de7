"""`fem-prdp bench training`: one training step of the cases' surrogates, split into the
network and the solves, before and after the precision policy.

A step is what the trainer does per mini-batch: the emulator loss (network step, then a
heat step capped at K), backward (the implicit adjoint solve included) and the optimizer
step. The solve share comes from the step's own solve records (primal + adjoint seconds);
the rest of the step is the network's (and the optimizer's). Two set-ups per surrogate:

- "float64, Adam": the runner before the precision policy (network in float64, the
  default per-parameter Adam loop);
- "float32, fused Adam": the runner now (`cases.runner`).

Medians over repeats, the two set-ups alternating, so a shared machine's load falls on
both alike. The physics is float64 in both.
"""

from __future__ import annotations

import statistics
import time

import torch

from .._timing import synchronize
from ..fem import FunctionSpace
from ..linalg import solve_records
from ..mesh import generate, uniform_rectangle
from ..physics import CappedSolver, HeatStepper
from .data import random_fields, reference_trajectories
from .models import FieldMLP
from .tasks import EmulatorTask

__all__ = ["bench_training"]

_SETUPS = {"float64, Adam": (torch.float64, False), "float32, fused Adam": (torch.float32, True)}


def _heat(mesh, batch: int, device):
    V = FunctionSpace(mesh, 1, device=device)
    stepper = HeatStepper(V, 1.0, 1e-3, dirichlet={b: 0.0 for b in mesh.boundaries},
                          solver=CappedSolver("cg", rtol=1e-10))
    u0 = random_fields(V.dof_points.cpu(), batch, seed=0).to(V.device)  # the same fields on every device
    u0[:, V.boundary_dofs()] = 0.0
    return V, stepper, reference_trajectories(stepper.step, u0, 2)


def _models(kind: str, mesh, n: int, quick: bool, device):
    """(label, factory) of the surrogate as the cases build it."""
    if kind == "mlp":
        width = 256 if quick else 3000  # the paper's heat-2D MLP: 900-3000x3-900
        return f"MLP width {width} x 3", lambda dtype: FieldMLP(n, width=width, depth=3).to(device, dtype)
    from .gnn import GraphFieldModel
    from .graph import mesh_to_graph

    width, steps = (32, 2) if quick else (64, 4)  # heat-2d-meshes' MeshGraphNet
    # the graph's features in the network's dtype, as the cases build them
    return (f"MeshGraphNet width {width}, {steps} steps",
            lambda dtype: GraphFieldModel(mesh_to_graph(mesh, dtype=dtype).to(device), width=width,
                                          steps=steps).to(device, dtype))


def _step_times(task, opt, traj, k: int) -> tuple[float, float]:
    """Seconds of one training step and of its solves (primal + adjoint; on a GPU the solve
    records time their launches, so the split is the CPU's view there)."""
    synchronize()
    t0 = time.perf_counter()
    with solve_records() as records:
        opt.zero_grad()
        task.loss(traj, k).backward()
        opt.step()
    synchronize()
    return time.perf_counter() - t0, records.totals()["seconds"]


def bench_training(quick: bool = False, repeats: int = 5, k: int = 20, device="cpu") -> dict:
    """Per surrogate (the heat-2D paper MLP on the 30 x 30 grid, batch 25; heat-2d-meshes'
    MeshGraphNet on its finest training mesh, batch 20; quick: small versions) and set-up:
    median step seconds, solve seconds, the network's share and the speed-up over float64,
    network and physics on `device`."""
    cases = [("mlp", uniform_rectangle(11 if quick else 31), 8 if quick else 25),
             ("gnn", generate("rectangle", 0.2 if quick else 0.07), 4 if quick else 20)]
    rows = []
    for kind, mesh, batch in cases:
        if kind == "gnn":
            try:
                import torch_geometric  # noqa: F401  (the gnn extra)
            except ImportError:
                continue
        V, stepper, traj = _heat(mesh, batch, device)
        label, make = _models(kind, mesh, V.n_dofs, quick, device)
        runs = {}
        for name, (dtype, fused) in _SETUPS.items():
            torch.manual_seed(0)
            model = make(dtype)
            runs[name] = (EmulatorTask(model, stepper), torch.optim.Adam(model.parameters(), lr=1e-4, fused=fused))
            _step_times(*runs[name], traj, k)  # warm-up
        times = {name: [] for name in runs}
        for _ in range(repeats):
            for name, run in runs.items():
                times[name].append(_step_times(*run, traj, k))
        base = statistics.median(t for t, _ in times["float64, Adam"])
        for name, ts in times.items():
            step = statistics.median(t for t, _ in ts)
            solve = statistics.median(s for _, s in ts)
            rows.append({"surrogate": label, "n_dofs": V.n_dofs, "batch": batch, "k": k, "setup": name,
                         "step_s": step, "solve_s": solve, "network_share": 1 - solve / step,
                         "speedup_vs_float64": base / step})
    return {"device": str(torch.device(device)), "torch_threads": torch.get_num_threads(), "rows": rows}
