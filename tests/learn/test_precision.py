"""The precision policy: float32 networks, float64 physics, one differentiable boundary,
and honest float32 solves."""

import json

import pytest
import torch

import fem_prdp.mesh as M
from fem_prdp.cli import main
from fem_prdp.fem import FunctionSpace, assemble_matrix, mass, stiffness
from fem_prdp.learn import (
    EmulatorTask,
    FieldMLP,
    InverseTask,
    ParameterModel,
    random_fields,
    reference_trajectories,
)
from fem_prdp.learn.precision import module_dtype, parse_dtype, run_network
from fem_prdp.linalg import CG, Jacobi, SolveStatus, solve
from fem_prdp.physics import HeatStepper, PoissonProblem


def test_run_network_casts_both_ways_and_its_gradient_is_the_float64_one():
    torch.manual_seed(0)
    net64 = FieldMLP(6, width=5, depth=2, residual=True).double()
    net32 = FieldMLP(6, width=5, depth=2, residual=True)
    net32.load_state_dict({k: v.float() for k, v in net64.state_dict().items()})
    u = torch.rand(3, 6, dtype=torch.float64, requires_grad=True)
    out = run_network(net32, u)
    assert out.dtype == torch.float64 and module_dtype(net32) == torch.float32
    (out**2).sum().backward()
    g32, gw32 = u.grad.clone(), net32.net[0].weight.grad
    u.grad = None
    (run_network(net64, u) ** 2).sum().backward()
    # the same derivative, to float32 precision, on the float64 input and the float32 weights
    assert g32.dtype == torch.float64 and gw32.dtype == torch.float32
    torch.testing.assert_close(g32, u.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gw32.double(), net64.net[0].weight.grad, rtol=1e-5, atol=1e-6)
    assert run_network(net32, u, dtype=torch.float32).dtype == torch.float32


def test_float32_emulator_trains_through_float64_physics():
    V = FunctionSpace(M.uniform_rectangle(6), 1)
    stepper = HeatStepper(V, nu=1.0, dt=1e-3, dirichlet={b: 0.0 for b in V.mesh.boundaries})
    u0 = random_fields(V.dof_points, 4, seed=1)
    u0[:, V.boundary_dofs()] = 0.0
    traj = reference_trajectories(stepper.step, u0, 2)
    model = FieldMLP(V.n_dofs, width=8, depth=1, residual=True)  # float32 by default, as torch makes it
    task = EmulatorTask(model, stepper)
    u1, u2 = task.rollout(traj[:, 0], 3)
    assert u1.dtype == u2.dtype == torch.float64  # the stepper sees its own precision
    task.loss(traj, 3).backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 and p.grad.abs().sum() > 0
               for p in model.parameters())


def test_inverse_task_hands_the_unknowns_to_the_physics_in_its_dtype():
    V = FunctionSpace(M.uniform_interval(10), 1)
    problem = PoissonProblem(V, {"left": 0.0, "right": 0.0}, n_modes=2)
    model = ParameterModel(2, 1.0, dtype=torch.float32)
    task = InverseTask(model, problem, transform=lambda t: problem.source(t, sign=-1.0),
                       physics_dtype=torch.float64)
    assert task.predict(None).dtype == torch.float64
    task.loss(torch.zeros(1, V.n_dofs, dtype=torch.float64), None).backward()
    assert model.theta.grad.dtype == torch.float32


def test_parse_dtype_names_the_setting_and_the_choices():
    assert parse_dtype("float32") is torch.float32 and parse_dtype(torch.float64) is torch.float64
    with pytest.raises(ValueError, match="network_dtype 'half': use one of float32, float64"):
        parse_dtype("half", "network_dtype")


def test_cases_default_to_float32_networks_and_float64_physics(tmp_path, capsys):
    from fem_prdp.cases import case_config
    from fem_prdp.cases.runner import field_model

    cfg = case_config("heat-1d", "quick")
    assert (cfg.network_dtype, cfg.physics_dtype) == ("float32", "float64")
    assert module_dtype(field_model(cfg, M.uniform_interval(4), 5)) == torch.float32
    assert main(["run", "heat-1d", "--set", "network_dtype=half", "--output", str(tmp_path)]) == 2
    assert "network_dtype 'half': use one of float32, float64" in capsys.readouterr().err
    # float32 physics runs end to end: data, solves and the summary, at a float32 tolerance
    args = ["run", "heat-1d", "--quick", "--epochs", "3", "--set", "physics_dtype=float32", "--output",
            str(tmp_path), "--no-progress"]
    assert main(args) == 0
    s = json.loads((tmp_path / "heat-1d" / "seed-0" / "summary.json").read_text())
    assert s["config"]["physics_dtype"] == "float32" and s["prdp"]["iterations"] > 0
    assert case_config("heat-1d", "quick", physics_dtype="float32").rtol(1e-10) == 1e-5
    assert cfg.rtol(1e-10) == 1e-10


def test_float32_solve_below_its_round_off_floor_is_not_reported_converged():
    """A float32 CG asked for rtol 1e-10 stagnates near eps32 x cond: the solve says so."""
    V = FunctionSpace(M.uniform_rectangle(40), 1, dtype=torch.float32)
    A = assemble_matrix(stiffness, V)
    A.values = A.values + 1e-2 * assemble_matrix(mass, V).values  # SPD, cond ~ 1e5
    b = torch.randn(V.n_dofs, generator=torch.Generator().manual_seed(0)).float()
    _, loose = solve(A, b, CG(rtol=1e-4, max_iters=5000), Jacobi(A))
    assert loose.status == SolveStatus.CONVERGED and float(loose.residual_norm / loose.rhs_norm) < 1e-2
    _, tight = solve(A, b, CG(rtol=1e-10, max_iters=5000), Jacobi(A))
    rel = float(tight.residual_norm / tight.rhs_norm)
    assert tight.status != SolveStatus.CONVERGED and rel > 1e-8  # the true residual, reported as it is
