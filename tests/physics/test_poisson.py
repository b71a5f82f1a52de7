import math

import pytest
import torch

import fem_prdp.mesh as M
from fem_prdp.fem import FunctionSpace
from fem_prdp.linalg import solve_records
from fem_prdp.physics import CappedSolver, PoissonProblem


def test_modes_are_the_laplacian_eigenfunctions_and_solutions_match_analytic():
    V = FunctionSpace(M.uniform_interval(64), 2)
    p = PoissonProblem(V, {"left": 0.0, "right": 0.0}, n_modes=3)
    x = V.dof_points[:, 0]
    for k in range(3):
        assert torch.allclose(p.modes[k], torch.sin((k + 1) * math.pi * x), atol=1e-6)
        assert float(p.eigenvalues[k]) == pytest.approx(((k + 1) * math.pi) ** 2, rel=1e-6)
    # The paper's source -theta sin(2 pi x): u = -theta sin(2 pi x) / (2 pi)^2.
    theta = torch.tensor([0.0, 1.5], dtype=torch.float64)
    u = p.step(p.source(theta, sign=-1.0))
    assert torch.allclose(u, -1.5 * torch.sin(2 * math.pi * x) / (4 * math.pi**2), atol=1e-7)


def test_inverse_problem_gradient_recovers_theta_on_a_gmsh_mesh():
    V = FunctionSpace(M.disk(h=0.25), 1)
    p = PoissonProblem(V, {"boundary": 0.0}, n_modes=2, solver=CappedSolver("cg", rtol=1e-12))
    target = p.step(p.source(torch.tensor([1.0, -0.5], dtype=torch.float64)))
    theta = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([theta], max_iter=50, line_search_fn="strong_wolfe", tolerance_grad=1e-14,
                            tolerance_change=1e-16)

    def closure():
        opt.zero_grad()
        loss = (p.step(p.source(theta)) - target).square().sum()
        loss.backward()
        return loss

    with solve_records() as records:
        opt.step(closure)
    assert torch.allclose(theta.detach(), torch.tensor([1.0, -0.5], dtype=torch.float64), atol=1e-5)
    counts = records.totals()
    assert counts["primal"] > 0 and counts["adjoint"] > 0


def test_capped_solve_and_gradcheck():
    V = FunctionSpace(M.uniform_rectangle(4), 1)
    p = PoissonProblem(V, {"left": 0.0, "right": 1.0}, n_modes=2, solver=CappedSolver("cg", grad="unrolled"))
    theta = torch.rand(2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: p.step(p.source(t), k=3), (theta,))
    with solve_records() as records:
        p.step(p.source(theta), k=3)
    assert [int(i.n_iters) for i in records] == [3]


def test_no_dirichlet_is_refused():
    V = FunctionSpace(M.uniform_rectangle(2), 1)
    with pytest.raises(ValueError, match="at least one Dirichlet boundary; known: bottom, left, right, top"):
        PoissonProblem(V, {})
