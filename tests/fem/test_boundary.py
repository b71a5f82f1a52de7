"""Boundary conditions: Dirichlet keeps SPD and hits the values, errors name the fix,
gradients in Dirichlet values, the heat matrix on uniform meshes is the FD stencil."""

import pytest
import scipy.sparse as sp
import torch

import fem_prdp.mesh as M
from fem_prdp.fem import (
    FunctionSpace,
    apply_dirichlet,
    assemble_boundary_vector,
    assemble_matrix,
    dirichlet_dofs,
    lumped_mass,
    pin_dof,
    stiffness,
)
from fem_prdp.linalg import CG, solve
from fem_prdp.linalg.stencils import laplacian


def test_dirichlet_keeps_spd_and_imposes_values():
    V = FunctionSpace(M.cavity(h=0.25), 2)
    K = assemble_matrix(stiffness, V)
    b = torch.zeros(V.n_dofs, dtype=torch.float64)
    A, bb = apply_dirichlet(K, b, V, "lid", values=1.0)
    A, bb = apply_dirichlet(A, bb, V, "walls", values=0.0)
    D = A.to_dense()
    assert torch.allclose(D, D.T) and torch.linalg.eigvalsh(D).min() > 0
    x, info = solve(A, bb, CG(rtol=1e-12))
    lid, walls = V.boundary_dofs("lid"), V.boundary_dofs("walls")
    only_lid = lid[~torch.isin(lid, walls)]
    assert torch.allclose(x[only_lid], torch.ones(len(only_lid), dtype=torch.float64))
    assert torch.allclose(x[walls], torch.zeros(len(walls), dtype=torch.float64))
    assert (x >= -1e-12).all() and (x <= 1 + 1e-12).all()  # discrete maximum principle holds here


def test_unknown_or_empty_boundary_is_an_error_listing_names():
    V = FunctionSpace(M.cavity(h=0.5), 1)
    with pytest.raises(M.MeshError, match="unknown boundary 'inlet'; this mesh has: lid, walls"):
        dirichlet_dofs(V, "inlet")
    with pytest.raises(ValueError, match="name at least one boundary; known: lid, walls"):
        dirichlet_dofs(V)


def test_dirichlet_values_are_differentiable():
    V = FunctionSpace(M.uniform_rectangle(3), 1)
    K = assemble_matrix(stiffness, V)
    dofs = dirichlet_dofs(V, "left", "right", "bottom", "top")
    b = torch.zeros(V.n_dofs, dtype=torch.float64)

    def f(g):
        A, bb = apply_dirichlet(K, b, V, dofs=dofs, values=g)
        return solve(A, bb, CG(rtol=1e-13), grad="implicit")[0]

    g = torch.rand(len(dofs), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(f, (g,))


def test_homogeneous_dirichlet_shortcut_equals_the_general_elimination():
    """values=0 skips the lifting and writes no diagonal: the same matrix and right-hand side
    (and gradients in the matrix) as zero values given as a tensor, which takes the general
    path; batched matrices with one b; two boundaries of the same size in turn (the cached
    eliminated entries are those of the dofs given)."""
    V = FunctionSpace(M.uniform_rectangle(4), 2)
    kappa = torch.rand(2, V.mesh.n_cells, dtype=torch.float64, requires_grad=True)
    b = torch.rand(V.n_dofs, dtype=torch.float64)
    weights = torch.rand(2, V.n_dofs, dtype=torch.float64)
    for side in ("left", "right", "left"):
        dofs = dirichlet_dofs(V, side)
        results = []
        for values in (0.0, torch.zeros(len(dofs), dtype=torch.float64)):
            K = assemble_matrix(stiffness, V, kappa=kappa)
            A, bb = apply_dirichlet(K, b, V, dofs=dofs, values=values)
            x = solve(A, bb, CG(rtol=1e-12))[0]
            (grad,) = torch.autograd.grad((x * weights).sum(), kappa)
            results.append((A.to_dense(), bb, grad))
        for fast, general in zip(*results, strict=True):
            assert fast.shape == general.shape and torch.allclose(fast, general, rtol=1e-12, atol=1e-14)
        D = results[0][0]
        # the constrained rows and columns keep their diagonal only
        assert (D[:, dofs, :].count_nonzero(dim=-1) == 1).all() and (D[:, :, dofs].count_nonzero(dim=-2) == 1).all()


def test_pure_neumann_is_fixed_by_pinning_one_dof():
    V = FunctionSpace(M.uniform_rectangle(6), 1)
    K = assemble_matrix(stiffness, V)
    b = assemble_boundary_vector(V, "right", g=1.0) - assemble_boundary_vector(V, "left", g=1.0)
    A, bb = apply_dirichlet(K, b, V, dofs=pin_dof(V), values=0.0)
    x, info = solve(A, bb, CG(rtol=1e-12), check=True)
    # u = x solves -Lap u = 0, du/dn = +-1 on right/left: u = x + c with u(0, 0) = 0.
    assert torch.allclose(x, V.dof_points[:, 0], atol=1e-10)


def _fd_btcs(n, dim, r):
    """Classic BTCS matrix I + r * L (L: unscaled 2d+1-point stencil on the interior)."""
    return (sp.identity(n**dim) + r * laplacian(n, dim)).toarray()


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_lumped_heat_matrix_on_uniform_mesh_is_the_fd_stencil(dim):
    n = {1: 10, 2: 6, 3: 4}[dim]
    mesh = {1: M.uniform_interval, 2: M.uniform_rectangle, 3: M.uniform_box}[dim](n)
    h = 1.0 / n
    nu_dt = 1e-3
    V = FunctionSpace(mesh, 1)
    A = lumped_mass(V).values + nu_dt * assemble_matrix(stiffness, V).values
    dense = assemble_matrix(stiffness, V).with_values(A).to_dense()
    interior = torch.tensor(sorted(set(range(V.n_dofs)) - set(V.boundary_dofs().tolist())))
    fem = dense[interior][:, interior] / h**dim  # lumped mass is h^dim on interior nodes
    fd = torch.as_tensor(_fd_btcs(n - 1, dim, nu_dt / h**2))
    assert torch.allclose(fem, fd, atol=1e-12)
