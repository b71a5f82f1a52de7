"""Discrete upwinding against the finite-difference upwind stencil, its M-matrix and
maximum-principle properties, and its gradient; the mean-zero constraint for pure-Neumann
problems against the exact solution and the pinned solve."""

import math

import pytest
import torch

import fem_prdp.mesh as M
from fem_prdp.fem import (
    Field,
    FunctionSpace,
    apply_dirichlet,
    assemble_matrix,
    assemble_vector,
    discrete_upwind,
    error_norms,
    mean_value_constraint,
    pin_dof,
    source,
    stiffness,
)
from fem_prdp.fem.forms import advection
from fem_prdp.linalg import GMRES, MINRES, Jacobi, solve


def _transport(space, velocity, eps):
    W = FunctionSpace(space.mesh, 1, shape=(space.dim,))
    C = assemble_matrix(advection, space, velocity=Field(W, W.interpolate(velocity)))
    K = assemble_matrix(stiffness, space, kappa=eps)
    return C, K


def test_upwinded_p1_convection_is_the_finite_difference_upwind_stencil():
    n, a, eps = 10, 1.5, 0.01
    V = FunctionSpace(M.uniform_interval(n), 1)
    C, K = _transport(V, lambda x: torch.full_like(x, a), eps)
    A = (discrete_upwind(C).to_dense() + K.to_dense())
    # On the full operator, upwinding adds only the diffusion the physical one lacks:
    # diffusion eps/h + a/2 ... here a/2 = 0.75 > eps/h, so the result is pure upwind.
    full = discrete_upwind(C.with_values(C.values + K.values)).to_dense()
    assert torch.allclose(full[1:-1], (discrete_upwind(C).to_dense())[1:-1], atol=1e-12)
    h = 1 / n
    fd = torch.zeros(n + 1, n + 1, dtype=torch.float64)
    for i in range(1, n):  # interior rows: eps/h (-1, 2, -1) + a (-1, 1, 0), i.e. h x the FD upwind row
        fd[i, i - 1], fd[i, i], fd[i, i + 1] = -eps / h - a, 2 * eps / h + a, -eps / h
    assert torch.allclose(A[1:-1], fd[1:-1], atol=1e-12)


def test_upwinding_gives_an_m_matrix_and_a_monotone_solution():
    V = FunctionSpace(M.uniform_rectangle(16), 1)
    eps = 1e-3  # cell Peclet number about 30: Galerkin oscillates
    C, K = _transport(V, lambda x: torch.stack([torch.ones_like(x[:, 0]), 0.5 * torch.ones_like(x[:, 0])], -1), eps)
    galerkin = C.with_values(C.values + K.values)
    upwind = discrete_upwind(galerkin)
    rows, cols = upwind.pattern.row_indices(), upwind.pattern.col.long()
    off = rows != cols
    assert float(upwind.values[off].max()) <= 1e-15  # M-matrix sign pattern
    ones = torch.ones(V.n_dofs, dtype=torch.float64)
    assert torch.allclose(upwind.matvec(ones), galerkin.matvec(ones), atol=1e-12)  # row sums kept
    inflow = lambda x: (x[:, 1] > 0.5).double()  # noqa: E731  a discontinuous inflow profile in [0, 1]
    b = torch.zeros(V.n_dofs, dtype=torch.float64)
    solutions = {}
    for name, A in (("galerkin", galerkin), ("upwind", upwind)):
        A_bc, b_bc = apply_dirichlet(A, b, V, "left", "bottom", "right", "top", values=inflow)
        solutions[name], _ = solve(A_bc, b_bc, GMRES(rtol=1e-12, restart=200, max_iters=5000), Jacobi(A_bc), check=True)
    assert float(solutions["galerkin"].min()) < -0.05 or float(solutions["galerkin"].max()) > 1.05
    assert float(solutions["upwind"].min()) >= -1e-10 and float(solutions["upwind"].max()) <= 1 + 1e-10


def test_upwinding_gradient_and_bad_pattern():
    V = FunctionSpace(M.uniform_interval(4), 1)
    C, _ = _transport(V, lambda x: torch.ones_like(x), 1.0)
    values = C.values.detach().clone().requires_grad_(True)
    x = torch.linspace(0.1, 1.0, V.n_dofs, dtype=torch.float64)
    # Away from ties (a_ij = a_ji), max is differentiable: perturb the values to break them.
    values = (values + 1e-3 * torch.arange(len(values), dtype=torch.float64)).detach().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: discrete_upwind(C.with_values(v)).matvec(x), (values,))
    rect = C.block(slice(0, 3), slice(0, V.n_dofs))
    with pytest.raises(ValueError, match="structurally symmetric"):
        discrete_upwind(rect)


def _neumann_poisson(n):
    V = FunctionSpace(M.uniform_rectangle(n), 1)
    exact = lambda x: torch.cos(math.pi * x[..., 0]) * torch.cos(math.pi * x[..., 1])  # noqa: E731  zero flux, zero mean
    f = lambda x: 2 * math.pi**2 * exact(x)  # noqa: E731
    A = assemble_matrix(stiffness, V)
    b = assemble_vector(source, V, f=f)
    return V, A, b, exact


def test_mean_zero_constraint_solves_the_pure_neumann_problem_at_second_order():
    errors = []
    for n in (8, 16):
        V, A, b, exact = _neumann_poisson(n)
        Ab, bb = mean_value_constraint(A, b, V)
        x, info = solve(Ab, bb, MINRES(rtol=1e-12, max_iters=5000), check=True)
        u, lam = x[: V.n_dofs], x[V.n_dofs]
        weights = Ab.to_dense()[-1, :-1]  # integrals of the basis functions
        assert abs(float(weights @ u)) < 1e-12  # zero mean, exactly
        # Summing the first n rows (A 1 = 0, A symmetric): the multiplier takes the rhs's
        # incompatibility (here quadrature error), lam = sum(b) / |domain|.
        assert float(lam) == pytest.approx(float(b.sum() / weights.sum()), rel=1e-8, abs=1e-14)
        grad = lambda x: -math.pi * torch.stack([torch.sin(math.pi * x[..., 0]) * torch.cos(math.pi * x[..., 1]),  # noqa: E731
                                                 torch.cos(math.pi * x[..., 0]) * torch.sin(math.pi * x[..., 1])], -1)
        errors.append(error_norms(V, u, exact, grad)[0])
        # The pinned solve differs only by a constant.
        compatible = b - lam * weights
        A_pin, b_pin = apply_dirichlet(A, compatible, V, dofs=pin_dof(V), values=0.0)
        pinned, _ = solve(A_pin, b_pin, MINRES(rtol=1e-12, max_iters=5000), check=True)
        shifted = pinned - (weights @ pinned) / weights.sum()
        assert torch.allclose(shifted, u, atol=1e-8)
    assert abs(math.log2(errors[0] / errors[1]) - 2) < 0.15


def test_mean_zero_constraint_is_differentiable_and_checks_the_space():
    V, A, b, _ = _neumann_poisson(3)
    bv = (b - b.mean()).detach().requires_grad_(True)

    def f(values, rhs):
        Ab, bb = mean_value_constraint(A.with_values(values), rhs, V)
        return solve(Ab, bb, MINRES(rtol=1e-13, max_iters=2000))[0]

    assert torch.autograd.gradcheck(f, (A.values.detach().clone().requires_grad_(True), bv))
    W = FunctionSpace(V.mesh, 1, shape=(2,))
    with pytest.raises(ValueError, match="needs a scalar space"):
        mean_value_constraint(A, b, W)
