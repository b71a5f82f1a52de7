"""The same numbers on CUDA as on the CPU: solves, preconditioners, gradients through capped
solves, the precision boundary and a whole case. Skipped without a CUDA device; run by
scripts/gpu_check.sh on a GPU machine."""

import json

import pytest
import torch

import fem_prdp.mesh as M
from fem_prdp.cli import main
from fem_prdp.fem import FunctionSpace, TaylorHood, apply_dirichlet, assemble_matrix, stiffness
from fem_prdp.learn import EmulatorTask, FieldMLP, random_fields, reference_trajectories
from fem_prdp.linalg import AMG, CG, Jacobi, SolveStatus, solve
from fem_prdp.physics import HeatStepper, NavierStokesStepper

pytestmark = pytest.mark.gpu
CUDA = torch.device("cuda")


def _diffusion(device):
    mesh = M.generate("box", 0.15)
    V = FunctionSpace(mesh, 1, device=device)
    kappa = 1e-3 + torch.rand(mesh.n_cells, generator=torch.Generator().manual_seed(0), dtype=torch.float64) ** 3
    A = assemble_matrix(stiffness, V, kappa=kappa.to(device))
    f = torch.ones(V.n_dofs, dtype=torch.float64, device=device)
    return apply_dirichlet(A, f, V, "back", values=0.0)


@pytest.mark.parametrize("precond", ["jacobi", "amg-jacobi", "amg-chebyshev"])
def test_cg_on_cuda_equals_cpu(precond):
    x = {}
    for device in ("cpu", CUDA):
        A, b = _diffusion(device)
        P = Jacobi(A) if precond == "jacobi" else AMG(A, smoother=precond.split("-")[1])
        x[str(device)], info = solve(A, b, CG(rtol=1e-10, max_iters=2000), P)
        assert info.status == SolveStatus.CONVERGED and x[str(device)].device.type == torch.device(device).type
    torch.testing.assert_close(x["cuda"].cpu(), x["cpu"], rtol=1e-8, atol=1e-12)


def test_recycled_adjoint_start_on_cuda_equals_cpu():
    """The adjoint from the forward's CG directions (`krylov.recycle`): on CUDA the batched
    torch loop keeps them (the CPU's single right-hand side, its host-scalar loop)."""
    grads, iterations = {}, {}
    for device in ("cpu", CUDA):
        A, b = _diffusion(device)
        values = A.values.detach().clone().requires_grad_(True)
        Av = A.with_values(values)
        x, info = solve(Av, b, CG(rtol=1e-10, max_iters=2000), AMG(Av, max_coarse=20))  # 14 CG iterations
        x.square().sum().backward()
        assert info.adjoint[0].status == SolveStatus.CONVERGED
        grads[str(device)], iterations[str(device)] = values.grad, int(info.adjoint[0].n_iters[0])
        assert iterations[str(device)] < int(info.n_iters[0])
    torch.testing.assert_close(grads["cuda"].cpu(), grads["cpu"], rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("grad", ["implicit", "unrolled"])
def test_capped_heat_gradient_on_cuda_equals_cpu(grad):
    from fem_prdp.physics import CappedSolver

    grads = {}
    for device in ("cpu", CUDA):
        V = FunctionSpace(M.uniform_rectangle(12), 1, device=device)
        stepper = HeatStepper(V, 1.0, 1e-2, dirichlet={b: 0.0 for b in V.mesh.boundaries},
                              solver=CappedSolver("cg", rtol=1e-10, grad=grad))
        u = random_fields(V.dof_points.cpu(), 2, seed=0).to(device).requires_grad_(True)
        (stepper.step(u, k=5) ** 2).sum().backward()
        grads[str(device)] = u.grad
    torch.testing.assert_close(grads["cuda"].cpu(), grads["cpu"], rtol=1e-9, atol=1e-12)


def test_float32_network_and_float64_physics_on_cuda():
    V = FunctionSpace(M.uniform_rectangle(8), 1, device=CUDA)
    stepper = HeatStepper(V, 1.0, 1e-3, dirichlet={b: 0.0 for b in V.mesh.boundaries})
    u0 = random_fields(V.dof_points.cpu(), 4, seed=1).to(CUDA)
    u0[:, V.boundary_dofs()] = 0.0
    traj = reference_trajectories(stepper.step, u0, 2)
    model = FieldMLP(V.n_dofs, width=8, depth=1, residual=True).to(CUDA)
    task = EmulatorTask(model, stepper)
    loss = task.loss(traj, 3)
    loss.backward()
    assert loss.dtype == torch.float64 and loss.device.type == "cuda"
    assert all(p.grad.dtype == torch.float32 and p.grad.device.type == "cuda" for p in model.parameters())


def test_navier_stokes_step_on_cuda_equals_cpu():
    mesh = M.generate("rectangle", 0.2)
    states = {}
    for device in ("cpu", CUDA):
        th = TaylorHood(mesh, device=device)
        walls = {name: (1.0, 0.0) if name == "top" else (0.0, 0.0) for name in mesh.boundaries}
        stepper = NavierStokesStepper(None, 0.01, 0.1, walls, spaces=th)
        states[str(device)] = stepper.step(torch.zeros(th.n_u, dtype=torch.float64, device=device))
    torch.testing.assert_close(states["cuda"].cpu(), states["cpu"], rtol=1e-7, atol=1e-9)


def test_quick_case_runs_on_cuda(tmp_path):
    args = ["run", "heat-1d", "--quick", "--epochs", "3", "--device", "cuda", "--output", str(tmp_path), "--no-progress"]
    assert main(args) == 0
    s = json.loads((tmp_path / "heat-1d" / "seed-0" / "summary.json").read_text())
    assert s["prdp"]["iterations"] < s["converged"]["iterations"]
