"""The three training setups under the Trainer: inverse problem, emulator with warm starts,
solver-in-the-loop correction."""

import math

import pytest
import torch

import fem_prdp.mesh as M
from fem_prdp.fem import FunctionSpace
from fem_prdp.learn import (
    CorrectionTask,
    EmulatorTask,
    FieldMLP,
    InverseTask,
    ParameterModel,
    Trainer,
    random_fields,
    reference_trajectories,
)
from fem_prdp.linalg import solve_records
from fem_prdp.physics import HeatStepper, PoissonProblem
from fem_prdp.prdp import PRDPController


def test_inverse_problem_recovers_the_paper_source_amplitude_with_prdp(tmp_path):
    V = FunctionSpace(M.uniform_interval(30), 1)  # the paper's 1D Poisson inverse problem
    problem = PoissonProblem(V, {"left": 0.0, "right": 0.0}, n_modes=2)
    theta_true = torch.tensor([0.0, 2.0], dtype=torch.float64)
    observed = problem.step(problem.source(theta_true, sign=-1.0)).detach().expand(4, -1).clone()
    model = ParameterModel(2)
    task = InverseTask(model, problem, transform=lambda theta: problem.source(theta, sign=-1.0))
    trainer = Trainer(task, torch.optim.Adam(model.parameters(), lr=0.1),
                      PRDPController(ema_window=2, error_window=1, plateau_threshold=0.95), observed, observed[:1],
                      batch_size=4, checkpoint_dir=tmp_path, progress=False)
    trainer.fit(120)
    assert abs(float(model.theta.detach()[1]) - 2.0) < 0.02
    ks = [h["k"] for h in trainer.history]
    assert ks[0] == 1 and max(ks) > 1  # refined as the fit needed better physics


def _heat_data(V, stepper, n, steps):
    u0 = random_fields(V.dof_points, n, seed=2)
    u0[:, V.boundary_dofs()] = 0.0
    return reference_trajectories(stepper.step, u0, steps)


def test_warm_start_gives_a_better_solve_for_the_same_cap():
    V = FunctionSpace(M.uniform_rectangle(8), 1)
    walls = {b: 0.0 for b in V.mesh.boundaries}
    stepper = HeatStepper(V, nu=1.0, dt=1e-3, dirichlet=walls)
    data = _heat_data(V, stepper, 8, 2)
    model = FieldMLP(V.n_dofs, width=8, depth=1, residual=True).double()
    errors = {}
    for warm in (False, True):
        task = EmulatorTask(model, stepper, warm_start=warm)
        with torch.no_grad():
            _, u2 = task.rollout(data[:, 0], 3)
            errors[warm] = float((u2 - stepper.step(task.model(data[:, 0]))).norm())
    assert errors[True] < errors[False]  # same K, better solve: the start is near the answer


def test_solver_in_the_loop_correction_learns_the_capped_solver_error(tmp_path):
    V = FunctionSpace(M.uniform_rectangle(8), 1)
    stepper = HeatStepper(V, nu=1.0, dt=2e-3, dirichlet={b: 0.0 for b in V.mesh.boundaries})
    data = _heat_data(V, stepper, 40, 2)
    torch.manual_seed(0)
    model = FieldMLP(V.n_dofs, width=32, depth=2).double()
    task = CorrectionTask(model, stepper, m=2)
    trainer = Trainer(task, torch.optim.Adam(model.parameters(), lr=1e-3),
                      PRDPController(ema_window=2, error_window=1, plateau_threshold=0.99), data[:32], data[32:],
                      batch_size=8, checkpoint_dir=tmp_path, progress=False)
    history = trainer.fit(8)
    assert history[-1]["val_metric"] < history[0]["val_metric"]
    assert math.isfinite(history[-1]["loss"])


def test_multi_mesh_task_is_the_sample_weighted_mean_of_per_mesh_emulator_losses():
    from fem_prdp.learn import GraphFieldModel, MultiMeshEmulatorTask, mesh_to_graph
    from fem_prdp.physics import CappedSolver

    solver = CappedSolver("cg")
    meshes = [M.rectangle(h=0.3), M.rectangle(h=0.4)]
    names = sorted(meshes[0].boundaries)
    parts, trajectories = [], []
    for m, mesh in enumerate(meshes):
        V = FunctionSpace(mesh, 1)
        stepper = HeatStepper(V, 1.0, 1e-2, dirichlet={b: 0.0 for b in names}, solver=solver)
        parts.append((mesh_to_graph(mesh, boundary_names=names), stepper))
        trajectories += [(m, t) for t in _heat_data(V, stepper, 2 + m, 2)]
    torch.manual_seed(0)
    model = GraphFieldModel(parts[0][0], width=8, steps=1).double()
    task = MultiMeshEmulatorTask(model, parts, trajectories)
    index = torch.tensor([0, 2, 1, 4, 3])  # 2 samples on mesh 0, 3 on mesh 1, interleaved
    expected = 0.0
    for m, (graph, stepper) in enumerate(parts):
        per_mesh = torch.stack([t for mm, t in trajectories if mm == m])

        class OnGraph(torch.nn.Module):
            def forward(self, u, graph=graph):
                return model(u, graph)

        expected = expected + len(per_mesh) * EmulatorTask(OnGraph(), stepper).loss(per_mesh, 3)
    assert torch.allclose(task.loss(index, 3), expected / 5, rtol=1e-12)
    assert 0 < task.metric(index) < 10
    other = (mesh_to_graph(meshes[1], boundary_names=names[:2]), parts[1][1])
    with pytest.raises(ValueError, match="node types"):
        model(trajectories[-1][1][0], other[0])
    # Steppers need not share a solver: the trainer's records see every solve of a batch.
    lone = HeatStepper(FunctionSpace(meshes[1], 1), 1.0, 1e-2, dirichlet={b: 0.0 for b in names})
    with solve_records() as records:
        MultiMeshEmulatorTask(model, [parts[0], (parts[1][0], lone)], trajectories).loss(index, 3)
    assert len(records) == len({m for m, _ in trajectories})
