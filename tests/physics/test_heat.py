"""Heat stepper: eigenmode decay (exact discrete and continuous rates), monotone energy,
the finite-difference trajectory on uniform meshes, gradients, capped cost, bad input."""

import math

import pytest
import scipy.sparse as sp
import torch

import fem_prdp.mesh as M
from fem_prdp.fem import Field, FunctionSpace
from fem_prdp.linalg import solve_records
from fem_prdp.linalg.stencils import laplacian
from fem_prdp.physics import CappedSolver, HeatStepper

ALL2D = {"left": 0.0, "right": 0.0, "bottom": 0.0, "top": 0.0}


def _mode(V):
    return V.interpolate(lambda x: torch.prod(torch.sin(math.pi * x), dim=-1))


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_eigenmode_decays_at_the_exact_discrete_rate(dim):
    n = {1: 20, 2: 12, 3: 6}[dim]
    mesh = {1: M.uniform_interval, 2: M.uniform_rectangle, 3: M.uniform_box}[dim](n)
    V = FunctionSpace(mesh, 1)
    nu, dt = 0.5, 2e-3
    stepper = HeatStepper(V, nu, dt, dirichlet={b: 0.0 for b in mesh.boundaries}, lumped=True)
    u0 = _mode(V)
    u = stepper.rollout(u0, 5)[-1]
    h = 1.0 / n
    lam_h = dim * (4 / h**2) * math.sin(math.pi * h / 2) ** 2  # FD eigenvalue of the mode
    assert torch.allclose(u, u0 * (1 + dt * nu * lam_h) ** -5, rtol=1e-9, atol=1e-12)
    continuous = math.exp(-dim * math.pi**2 * nu * 5 * dt)
    # O(dt + h^2) away from the continuous rate; 3D is on a coarse 6^3 grid.
    assert float(u.max() / u0.max()) == pytest.approx(continuous, rel={1: 2e-3, 2: 5e-3, 3: 1e-2}[dim])


@pytest.mark.parametrize("scheme", ["btcs", "cn"])
def test_energy_decreases_monotonically_on_a_gmsh_mesh(scheme):
    V = FunctionSpace(M.disk(h=0.2), 2)
    stepper = HeatStepper(V, nu=0.1, dt=0.05, scheme=scheme, dirichlet={"boundary": 0.0})
    u0 = V.interpolate(lambda x: torch.exp(-4 * (x**2).sum(-1)) + x[:, 0])
    energies = stepper.energy(stepper.rollout(u0, 8))
    assert (energies[1:] < energies[:-1]).all()


def test_uniform_mesh_reproduces_the_fd_btcs_trajectory():
    n, nu_dt = 10, 1e-3
    V = FunctionSpace(M.uniform_rectangle(n), 1)
    stepper = HeatStepper(V, nu=1.0, dt=nu_dt, dirichlet=ALL2D, lumped=True)
    u0 = V.interpolate(lambda x: torch.sin(3 * x[:, 0]) * x[:, 1] * (1 - x[:, 1]) * x[:, 0] * (1 - x[:, 0]))
    fem = stepper.rollout(u0, 4)
    grid = u0.reshape(n + 1, n + 1)[1:-1, 1:-1].reshape(-1)
    A = (sp.identity((n - 1) ** 2) + nu_dt * n**2 * laplacian(n - 1, 2)).toarray()
    A = torch.as_tensor(A)
    for step in range(1, 5):
        grid = torch.linalg.solve(A, grid)
        assert torch.allclose(fem[step].reshape(n + 1, n + 1)[1:-1, 1:-1].reshape(-1), grid, atol=1e-12)


def test_batched_states_match_single_steps():
    V = FunctionSpace(M.uniform_rectangle(6), 1)
    stepper = HeatStepper(V, nu=1.0, dt=1e-2, dirichlet=ALL2D)
    U = torch.rand(3, V.n_dofs, dtype=torch.float64)
    batch = stepper.step(U)
    for s in range(3):
        assert torch.allclose(batch[s], stepper.step(U[s]), atol=1e-10)


def test_capped_step_costs_exactly_k_iterations_per_sample():
    V = FunctionSpace(M.uniform_rectangle(8), 1)
    stepper = HeatStepper(V, nu=1.0, dt=1e-2, dirichlet=ALL2D)
    u = torch.rand(4, V.n_dofs, dtype=torch.float64, requires_grad=True)
    with solve_records() as records:
        stepper.step(u, k=3).sum().backward()
    counts = records.totals()
    assert (counts["primal"], counts["adjoint"], counts["solves"]) == (12, 12, 1)
    assert counts["matvecs"] == 12 + 12 + 2 * 4  # + the initial residual of each sample, twice
    assert counts["seconds"] > 0


@pytest.mark.parametrize("grad", ["implicit", "unrolled"])
def test_gradients_wrt_initial_state_and_diffusivity_match_finite_differences(grad):
    mesh = M.uniform_rectangle(3)
    V = FunctionSpace(mesh, 1)
    u0 = torch.rand(V.n_dofs, dtype=torch.float64, requires_grad=True)
    nu = torch.full((mesh.n_cells,), 0.7, dtype=torch.float64, requires_grad=True)
    solver = CappedSolver("cg", rtol=1e-13, grad=grad)

    def loss(u0, nu):
        stepper = HeatStepper(V, nu=nu, dt=0.1, dirichlet={"left": 0.0}, solver=solver)
        return stepper.rollout(u0, 2)[-1].square().sum()

    assert torch.autograd.gradcheck(loss, (u0, nu))


def test_diffusivity_as_a_field():
    V = FunctionSpace(M.uniform_rectangle(4), 1)
    nu = Field(V, torch.ones(V.n_dofs, dtype=torch.float64))
    a = HeatStepper(V, nu=nu, dt=0.1, dirichlet=ALL2D).step(torch.ones(V.n_dofs, dtype=torch.float64))
    b = HeatStepper(V, nu=1.0, dt=0.1, dirichlet=ALL2D).step(torch.ones(V.n_dofs, dtype=torch.float64))
    assert torch.allclose(a, b, atol=1e-10)


def test_bad_input_is_refused_before_any_solve():
    V = FunctionSpace(M.uniform_rectangle(3), 1)
    with pytest.raises(ValueError, match="dt must be a positive number"):
        HeatStepper(V, nu=1.0, dt=0.0)
    with pytest.raises(ValueError, match="nu must be a positive number"):
        HeatStepper(V, nu=-1.0, dt=0.1)
    with pytest.raises(ValueError, match="scheme must be one of"):
        HeatStepper(V, nu=1.0, dt=0.1, scheme="rk4")
    with pytest.raises(M.MeshError, match="unknown boundary 'inlet'.*bottom, left, right, top"):
        HeatStepper(V, nu=1.0, dt=0.1, dirichlet={"inlet": 0.0})
    stepper = HeatStepper(V, nu=1.0, dt=0.1)
    with pytest.raises(ValueError, match=r"state has shape \(5,\), expected \(16,\)"):
        stepper.step(torch.zeros(5, dtype=torch.float64))
    bad = torch.zeros(16, dtype=torch.float64)
    bad[3] = float("nan")
    with solve_records() as records, pytest.raises(ValueError, match="NaN or Inf"):
        stepper.step(bad)
    assert len(records) == 0


def test_amg_preconditioned_step_matches_jacobi_in_fewer_iterations():
    V = FunctionSpace(M.uniform_box(8), 1)
    walls = {b: 0.0 for b in V.mesh.boundaries}
    u0 = V.interpolate(lambda x: torch.sin(math.pi * x[:, 0]) * x[:, 1] * (1 - x[:, 2]))
    steps = {p: HeatStepper(V, 1.0, 1e-2, dirichlet=walls, precond=p, solver=CappedSolver("cg", rtol=1e-12))
             for p in ("jacobi", "amg")}
    out, iters = {}, {}
    for p, s in steps.items():
        with solve_records() as records:
            out[p] = s.step(torch.stack([u0, 2 * u0]))
        iters[p] = records.max_iterations()
    assert torch.allclose(out["amg"], out["jacobi"], atol=1e-10)
    assert iters["amg"] < iters["jacobi"]
    with pytest.raises(ValueError, match="precond must be 'jacobi' or 'amg'"):
        HeatStepper(V, 1.0, 1e-2, precond="ilu")


def test_amg_handles_a_singular_coarsest_level_from_eliminated_boundary_rows():
    # A gmsh cube: many boundary rows are eliminated, and pyamg aggregates them into coarse
    # rows that are zero (its own coarse solver is a pseudo-inverse for this reason).
    V = FunctionSpace(M.box(h=0.12), 1)
    walls = {b: 0.0 for b in V.mesh.boundaries}
    u0 = V.interpolate(lambda x: torch.sin(math.pi * x[:, 0]) * torch.sin(math.pi * x[:, 1]))
    u0[V.boundary_dofs()] = 0.0
    amg = HeatStepper(V, 1.0, 1e-2, dirichlet=walls, precond="amg", solver=CappedSolver("cg", rtol=1e-12))
    ref = HeatStepper(V, 1.0, 1e-2, dirichlet=walls, solver=CappedSolver("cg", rtol=1e-12))
    assert torch.allclose(amg.step(u0), ref.step(u0), atol=1e-10)
