"""Taylor-Hood Oseen matrix: blocks against independent references, discrete divergence,
and the saddle-point solve against a dense direct solve (block preconditioned GMRES)."""

import numpy as np
import pytest
import torch

import fem_prdp.mesh as M
from fem_prdp.fem import Field, TaylorHood, apply_dirichlet, assemble_matrix, assemble_oseen
from fem_prdp.fem.forms import advection, mass, stiffness
from fem_prdp.linalg import AMG, GMRES, MINRES, BlockDiagonal, BlockTriangular, Jacobi, SolveStatus, solve

from .reference import dense_matrix


@pytest.fixture(scope="module")
def cavity():
    return TaylorHood(M.cavity(h=0.25))


def test_velocity_block_is_mass_over_dt_plus_viscous_plus_convection(cavity):
    th = cavity
    w = th.velocity.interpolate(lambda x: torch.stack([1 + x[:, 1], 2 - x[:, 0]], -1))
    sys = assemble_oseen(th, nu=0.1, velocity=w, dt=0.5)
    A = sys.velocity_block().to_dense().numpy()
    V = th.scalar_velocity
    ref = (
        dense_matrix(V, "mass") / 0.5
        + 0.1 * dense_matrix(V, "stiffness")
        + dense_matrix(V, "advection", velocity=lambda x: [1 + x[1], 2 - x[0]])
    )
    n = V.n_dofs
    assert abs(A[:n, :n] - ref).max() < 1e-12 * abs(ref).max()
    assert abs(A[n:, n:] - ref).max() < 1e-12 * abs(ref).max()
    assert abs(A[:n, n:]).max() == 0


@pytest.mark.parametrize("dim", [2, 3])
def test_batched_velocity_and_per_cell_viscosity_match_the_generic_forms(dim):
    """The re-assembly path (cached fixed part + convection by one GEMM per cell) against the
    generic quadrature forms, per sample, on an unstructured mesh in 2D and 3D."""
    mesh = M.cavity(h=0.3) if dim == 2 else M.box(h=0.6)
    th = TaylorHood(mesh)
    V = th.scalar_velocity
    g = torch.Generator().manual_seed(0)
    w = torch.rand(2, th.n_u, generator=g, dtype=torch.float64) - 0.5
    nu = torch.rand(2, mesh.n_cells, generator=g, dtype=torch.float64) + 0.1
    A = assemble_oseen(th, nu=nu, velocity=w, dt=0.25).velocity_block()
    n = V.n_dofs
    for b in range(2):
        ref = (
            assemble_matrix(mass, V).to_dense() / 0.25
            + assemble_matrix(stiffness, V, kappa=nu[b]).to_dense()
            + assemble_matrix(advection, V, velocity=Field(th.velocity, w[b])).to_dense()
        )
        dense = A.with_values(A.values[b]).to_dense()
        for c in range(dim):
            block = dense[c * n : (c + 1) * n, c * n : (c + 1) * n]
            assert float((block - ref).abs().max()) < 1e-12 * float(ref.abs().max())
    # the cached fixed part is not changed by re-assembly with other parameters
    first = assemble_oseen(th, nu=0.5, velocity=w[0], dt=0.1).matrix.values
    assemble_oseen(th, nu=0.5, velocity=w[1], dt=0.1)
    for dt in (0.2, 0.3, 0.1):  # other time steps cached beside it, then evicted and rebuilt
        assemble_oseen(th, nu=0.5, velocity=w[1], dt=dt)
        assert torch.equal(assemble_oseen(th, nu=0.5, velocity=w[0], dt=0.1).matrix.values, first)


def test_oseen_gradients_in_velocity_and_viscosity(cavity):
    th = cavity
    w = (torch.rand(th.n_u, dtype=torch.float64) - 0.5).requires_grad_()
    nu = (torch.rand(th.mesh.n_cells, dtype=torch.float64) + 0.1).requires_grad_()
    x = torch.rand(th.n_dofs, dtype=torch.float64)

    def f(w, nu):
        return assemble_oseen(th, nu=nu, velocity=w, dt=0.5).matrix.matvec(x)

    assert torch.autograd.gradcheck(f, (w, nu))


def test_divergence_block_annihilates_divergence_free_quadratics(cavity):
    th = cavity
    sys = assemble_oseen(th, nu=1.0)
    B = sys.divergence_block()
    u = th.velocity.interpolate(lambda x: torch.stack([x[:, 0] ** 2, -2 * x[:, 0] * x[:, 1]], -1))
    assert float(B.matvec(u).abs().max()) < 1e-13
    u2 = th.velocity.interpolate(lambda x: torch.stack([x[:, 0], x[:, 1]], -1))  # div = 2
    q_mass_rows = sys.pressure_mass.to_dense().sum(1)
    assert torch.allclose(B.matvec(u2), -2 * q_mass_rows, atol=1e-13)
    assert torch.allclose(sys.gradient_block().to_dense(), B.to_dense().T)


def test_bad_parameters_are_errors(cavity):
    with pytest.raises(ValueError, match="viscosity nu must be positive"):
        assemble_oseen(cavity, nu=0.0)
    with pytest.raises(ValueError, match="time step dt must be positive"):
        assemble_oseen(cavity, nu=1.0, dt=-1.0)


def _stokes_cavity(th):
    sys = assemble_oseen(th, nu=1.0)
    b = torch.zeros(th.n_dofs, dtype=torch.float64)
    lid_u = th.velocity.boundary_dofs("lid", component=0)
    walls = th.velocity.boundary_dofs("walls")
    A, b = apply_dirichlet(sys.matrix, b, th.velocity, dofs=walls, values=0.0)
    lid_only = lid_u[~torch.isin(lid_u, walls)]
    A, b = apply_dirichlet(A, b, th.velocity, dofs=lid_only, values=1.0)
    lid_v = th.velocity.boundary_dofs("lid", component=1)
    A, b = apply_dirichlet(A, b, th.velocity, dofs=lid_v, values=0.0)
    A, b = apply_dirichlet(A, b, th.velocity, dofs=torch.tensor([th.n_u]), values=0.0)  # pin p
    return sys, A, b


@pytest.mark.parametrize("method", ["gmres", "minres"])
def test_taylor_hood_saddle_point_solve_matches_dense_direct(cavity, method):
    th = cavity
    sys, A, b = _stokes_cavity(th)
    ref = torch.linalg.solve(A.to_dense(), b)
    Auu = A.block(slice(0, th.n_u), slice(0, th.n_u))
    schur = Jacobi(sys.pressure_mass)  # S ~ M_p / nu with nu = 1
    if method == "gmres":
        P = BlockTriangular(
            th.n_u, AMG(Auu, max_coarse=50), schur, A.block(slice(0, th.n_u), slice(th.n_u, None))
        )
        solver = GMRES(rtol=1e-12, max_iters=500, restart=100)
    else:
        P = BlockDiagonal(th.n_u, AMG(Auu, max_coarse=50), schur)
        solver = MINRES(rtol=1e-13, max_iters=2000)
    x, info = solve(A, b, solver, P)
    assert info.status == SolveStatus.CONVERGED, info.message
    assert float((x - ref).norm() / ref.norm()) < 1e-10
    u, _ = th.split(x)
    div = sys.divergence_block().matvec(u)
    assert float(div.abs().max()) < 1e-9  # discretely divergence-free at solver tolerance
    assert np.isfinite(x.numpy()).all()
