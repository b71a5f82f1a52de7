"""Assembled matrices against an independent element loop; structure; batching; gradients."""

import math

import pytest
import torch

import fem_prdp.mesh as M
from fem_prdp.fem import (
    Field,
    FunctionSpace,
    advection,
    assemble_matrix,
    assemble_vector,
    block_matrix,
    lumped_mass,
    mass,
    source,
    stiffness,
)
from fem_prdp.linalg import Chebyshev

from .reference import dense_matrix

MESHES = {
    "interval": lambda: M.unit_interval(h=0.25),
    "disk": lambda: M.disk(h=0.6),
    "l-shape": lambda: M.l_shape(h=0.7),
    "uniform-box": lambda: M.uniform_box(2),
    "gmsh-box": lambda: M.box(h=0.6),
}


@pytest.mark.parametrize("mesh_name", sorted(MESHES))
@pytest.mark.parametrize("degree", [1, 2])
@pytest.mark.parametrize("kind", ["mass", "stiffness", "advection"])
def test_matrix_equals_independent_element_loop(mesh_name, degree, kind):
    mesh = MESHES[mesh_name]()
    V = FunctionSpace(mesh, degree)
    d = mesh.dim
    coef = torch.linspace(0.5, 2.0, mesh.n_cells, dtype=torch.float64)
    if kind == "advection":
        W = FunctionSpace(mesh, 1, shape=(d,))
        vel = lambda x: torch.stack([1.0 + x[..., k] * (k + 1) for k in range(d)], -1)  # noqa: E731
        A = assemble_matrix(advection, V, velocity=Field(W, W.interpolate(vel)))
        ref = dense_matrix(V, kind, velocity=lambda x: [1.0 + x[k] * (k + 1) for k in range(d)])
    else:
        key = "rho" if kind == "mass" else "kappa"
        A = assemble_matrix({"mass": mass, "stiffness": stiffness}[kind], V, **{key: coef})
        ref = dense_matrix(V, kind, coef=coef.numpy())
    D = A.to_dense().numpy()
    assert abs(D - ref).max() <= 1e-12 * abs(ref).max()


@pytest.mark.parametrize("degree", [1, 2])
def test_symmetry_and_zero_row_sums(degree):
    V = FunctionSpace(M.l_shape(h=0.4), degree)
    K = assemble_matrix(stiffness, V).to_dense()
    Mm = assemble_matrix(mass, V).to_dense()
    assert torch.allclose(K, K.T, atol=1e-14) and torch.allclose(Mm, Mm.T, atol=1e-15)
    assert K.sum(1).abs().max() < 1e-12  # constants are in the kernel
    assert Mm.sum() == pytest.approx(3.0)  # total area of the L-shape
    assert torch.linalg.eigvalsh(Mm).min() > 0


def test_pattern_is_cached_and_values_batch():
    V = FunctionSpace(M.uniform_rectangle(6), 1)
    K1 = assemble_matrix(stiffness, V)
    kappa = torch.rand(4, V.mesh.n_cells, dtype=torch.float64) + 0.5
    Kb = assemble_matrix(stiffness, V, kappa=kappa)
    assert Kb.pattern is K1.pattern and Kb.values.shape == (4, K1.pattern.nnz)
    K2 = assemble_matrix(stiffness, V, kappa=kappa[2])
    assert torch.allclose(Kb.values[2], K2.values)


def test_load_vector_integrates_the_source():
    V = FunctionSpace(M.disk(h=0.3), 2)
    b = assemble_vector(source, V, f=lambda x: 1.0 + 0.0 * x[..., 0])
    assert float(b.sum()) == pytest.approx(V.mesh.measure(), rel=1e-12)
    f = Field(V, V.interpolate(lambda x: x[:, 0] ** 2))
    # integral of x^2 over the polygonal disk = sum over cells, exact for P2 data
    assert float(assemble_vector(source, V, f=f).sum()) == pytest.approx(
        float(assemble_matrix(mass, V).matvec(f.values).sum()), rel=1e-12
    )


def test_lumped_mass_is_diagonal_with_the_cell_measure():
    V = FunctionSpace(M.uniform_box(2), 1)
    L = lumped_mass(V).to_dense()
    assert torch.allclose(L, torch.diag(torch.diagonal(L)))
    assert float(L.sum()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="P1"):
        lumped_mass(FunctionSpace(M.uniform_box(1), 2))


def test_block_matrix_joins_blocks_and_keeps_gradients():
    V = FunctionSpace(M.uniform_rectangle(3), 1)
    kappa = torch.ones(V.mesh.n_cells, dtype=torch.float64, requires_grad=True)
    K = assemble_matrix(stiffness, V, kappa=kappa)
    Mm = assemble_matrix(mass, V)
    B = block_matrix([[K, Mm], [None, K]])
    D = B.to_dense()
    n = V.n_dofs
    assert torch.allclose(D[:n, :n], K.to_dense()) and torch.allclose(D[:n, n:], Mm.to_dense())
    assert D[n:, :n].abs().max() == 0
    B.values.sum().backward()
    assert kappa.grad is not None and torch.isfinite(kappa.grad).all()
    assert block_matrix([[K, Mm], [None, K]]).pattern is B.pattern  # cached


def test_stiffness_gradient_in_a_cellwise_coefficient_passes_gradcheck():
    V = FunctionSpace(M.uniform_rectangle(2), 2)
    kappa = torch.rand(V.mesh.n_cells, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda k: assemble_matrix(stiffness, V, kappa=k).values, (kappa,))
    f = torch.rand(V.n_dofs, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda k, f: assemble_matrix(stiffness, V, kappa=Field(V, f)).values, (kappa, f)
    )


def test_bad_coefficient_shape_is_a_clear_error():
    V = FunctionSpace(M.uniform_rectangle(2), 1)
    with pytest.raises(ValueError, match=r"per cell with shape \[\.\.\., n_cells = 8\].*Field"):
        assemble_matrix(stiffness, V, kappa=torch.ones(5, dtype=torch.float64))
    with pytest.raises(AttributeError, match="coefficient 'velocity' was not given"):
        assemble_matrix(advection, V)


@pytest.mark.parametrize("form_name", ["mass", "stiffness", "advection", "divergence"])
def test_fast_local_kernels_equal_the_generic_integrand(form_name):
    from dataclasses import replace

    from fem_prdp.fem import divergence_coupling

    form = {
        "mass": mass,
        "stiffness": stiffness,
        "advection": advection,
        "divergence": divergence_coupling(1),
    }[form_name]
    generic = replace(form, local=None, gram=None)
    mesh = M.disk(h=0.5)
    V, Q, W = FunctionSpace(mesh, 2), FunctionSpace(mesh, 1), FunctionSpace(mesh, 2, shape=(2,))
    if form_name == "divergence":
        fast, slow = assemble_matrix(form, V, Q).values, assemble_matrix(generic, V, Q).values
        assert torch.allclose(fast, slow, rtol=1e-13, atol=1e-15)
        return
    key = {"mass": "rho", "stiffness": "kappa", "advection": "velocity"}[form_name]
    coefs = [
        1.0,
        torch.rand(3, mesh.n_cells, dtype=torch.float64),
        Field(V, torch.rand(V.n_dofs, dtype=torch.float64)),
    ]
    if form_name == "advection":
        coefs = [
            Field(W, torch.rand(W.n_dofs, dtype=torch.float64)),
            Field(W, torch.rand(2, W.n_dofs, dtype=torch.float64)),
        ]
    for coef in coefs:
        fast = assemble_matrix(form, V, **{key: coef}).values
        slow = assemble_matrix(generic, V, **{key: coef}).values
        assert torch.allclose(fast, slow, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("native_kernels", [True, False])
@pytest.mark.parametrize("form_name", ["mass", "stiffness"])
def test_gram_backward_equals_autograd_through_the_integrand(form_name, native_kernels):
    """The gather-and-contract backward of mass and stiffness (fem.gram; on the CPU the fused
    kernel, else one gather and an einsum) against autograd through the generic integrand:
    per-cell and field coefficients, batched, P1 and P2 (several quadrature points)."""
    from dataclasses import replace

    from fem_prdp.linalg import native

    form = {"mass": mass, "stiffness": stiffness}[form_name]
    generic = replace(form, local=None, gram=None)
    key = {"mass": "rho", "stiffness": "kappa"}[form_name]
    mesh = M.box(h=0.6)
    for degree in (1, 2):
        V = FunctionSpace(mesh, degree)
        g = torch.rand(2, assemble_matrix(form, V).pattern.nnz, dtype=torch.float64)
        for make, n in ((lambda t: 1e-3 + t**3, mesh.n_cells), (lambda t, V=V: Field(V, t), V.n_dofs)):
            grads = []
            for f in (form, generic):
                t = torch.rand(2, n, dtype=torch.float64, generator=torch.Generator().manual_seed(3)).requires_grad_(True)
                with native.enabled(native_kernels):
                    values = assemble_matrix(f, V, **{key: make(t)}).values
                    (values * g).sum().backward()
                grads.append(t.grad)
            assert torch.allclose(grads[0], grads[1], rtol=1e-12, atol=1e-14)
    # first and second derivatives against finite differences (the backward is linear in g)
    V = FunctionSpace(M.uniform_rectangle(2), 2)
    t = torch.rand(V.mesh.n_cells, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda t: assemble_matrix(form, V, **{key: t**2}).values, (t,))


@pytest.mark.parametrize("form_name", ["mass", "stiffness"])
def test_gram_assembly_kernel_equals_the_scatter_at_any_thread_count_and_cell_order(form_name):
    """The one-pass CPU assembly of mass and stiffness (native.gram_assemble: each thread owns
    a range of the values) against element matrices + index_add: P1 and P2 on triangles and
    tetrahedra (the specialised element shapes, P2 mass on tetrahedra aside) and on an interval
    (the generic loop), batched; the same
    bits at 1, 2 and 3 threads; and with the cells shuffled, where every thread's cells span
    the whole mesh."""
    from dataclasses import replace

    from fem_prdp.linalg import native

    if not native.available():
        pytest.skip(native.status())
    form, key = {"mass": (mass, "rho"), "stiffness": (stiffness, "kappa")}[form_name]
    box = M.box(h=0.6)
    shuffled = replace(box, cells=box.cells[torch.randperm(box.n_cells, generator=torch.Generator().manual_seed(0))])
    threads = torch.get_num_threads()
    for mesh, degree in ((M.disk(h=0.5), 1), (M.disk(h=0.5), 2), (M.unit_interval(h=0.25), 2), (box, 1),
                         (box, 2), (shuffled, 1)):
        V = FunctionSpace(mesh, degree)
        coef = 1e-3 + torch.rand(2, mesh.n_cells, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        with native.enabled(False):
            reference = assemble_matrix(form, V, **{key: coef}).values
        runs = []
        try:
            for n in (1, 2, 3):
                torch.set_num_threads(n)
                runs.append(assemble_matrix(form, V, **{key: coef}).values)
        finally:
            torch.set_num_threads(threads)
        assert torch.allclose(runs[0], reference, rtol=1e-13, atol=1e-15 * float(reference.abs().max()))
        assert all(torch.equal(run, runs[0]) for run in runs[1:])
    # float32 physics takes the float kernels
    V = FunctionSpace(box, 1, dtype=torch.float32)
    coef = 1e-3 + torch.rand(2, box.n_cells, generator=torch.Generator().manual_seed(1))
    fast = assemble_matrix(form, V, **{key: coef}).values
    with native.enabled(False):
        reference = assemble_matrix(form, V, **{key: coef}).values
    assert fast.dtype == torch.float32 and torch.allclose(fast, reference, rtol=1e-5, atol=1e-6 * float(reference.abs().max()))


def test_supg_removes_the_galerkin_wiggles_of_a_boundary_layer():
    from fem_prdp.fem import apply_dirichlet, supg_advection, supg_tau

    mesh = M.uniform_interval(20)
    V = FunctionSpace(mesh, 1)
    W = FunctionSpace(mesh, 1, shape=(1,))
    nu = 1e-3  # cell Peclet number 25: Galerkin oscillates
    vel = Field(W, torch.ones(W.n_dofs, dtype=torch.float64))
    galerkin = assemble_matrix(stiffness, V, kappa=nu).values + assemble_matrix(advection, V, velocity=vel).values
    tau = supg_tau(V, vel, nu)
    assert tau.shape == (mesh.n_cells,)
    assert float(tau[0]) == pytest.approx(0.05 / 2 * (1 / math.tanh(25.0) - 1 / 25), rel=1e-12)
    supg = galerkin + assemble_matrix(supg_advection, V, velocity=vel, tau=tau).values
    K = assemble_matrix(stiffness, V)
    solutions = []
    for values in (galerkin, supg):
        A, b = apply_dirichlet(K.with_values(values), torch.zeros(V.n_dofs, dtype=torch.float64), V,
                               "left", values=0.0)
        A, b = apply_dirichlet(A, b, V, "right", values=1.0)
        solutions.append(torch.linalg.solve(A.to_dense(), b))
    assert float(solutions[0].min()) < -0.1  # Galerkin wiggles
    assert float(solutions[1].min()) > -1e-10 and float(solutions[1].max()) < 1 + 1e-10  # monotone
    assert torch.allclose(solutions[1][:-2], torch.zeros(V.n_dofs - 2, dtype=torch.float64), atol=1e-6)


def test_tensor_stiffness_with_an_anisotropic_coefficient():
    from fem_prdp.fem import tensor_stiffness

    V = FunctionSpace(M.disk(h=0.5), 2)
    K = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    A = assemble_matrix(tensor_stiffness, V, K=lambda x: K.expand(*x.shape[:-1], 2, 2)).to_dense()
    # Reference: K = L L^T, so (K grad u) . grad v = (L^T grad u) . (L^T grad v): the plain
    # stiffness of the mesh mapped by L^-T... checked here through the quadratic form on
    # linear functions u = a . x, v = b . x: integral of (K a) . b = area * a^T K b.
    a, b = torch.tensor([1.0, -2.0], dtype=torch.float64), torch.tensor([0.5, 3.0], dtype=torch.float64)
    ua = V.interpolate(lambda x: x @ a)
    vb = V.interpolate(lambda x: x @ b)
    assert float(vb @ A @ ua) == pytest.approx(V.mesh.measure() * float(b @ K @ a), rel=1e-12)
    assert torch.allclose(A, A.T, atol=1e-13)


def test_chebyshev_preconditioner_solves_a_mass_matrix_on_wathens_interval():
    """D^-1 M of a P1 mass matrix has its spectrum in [1/2, (d + 2) / 2] (Wathen 1987): the
    Chebyshev preconditioner's error contracts by the Chebyshev bound on that interval and
    it is a symmetric linear map."""
    for dim, mesh in ((2, M.uniform_rectangle(12)), (3, M.uniform_box(5))):
        Mass = assemble_matrix(mass, FunctionSpace(mesh, 1))
        dense = Mass.to_dense()
        d = torch.diagonal(dense)
        lam = torch.linalg.eigvalsh(dense / torch.sqrt(torch.outer(d, d)))
        assert lam.min() >= 0.5 - 1e-12 and lam.max() <= (dim + 2) / 2 + 1e-12
        P = Chebyshev(Mass, (0.5, (dim + 2) / 2), degree=3)
        Z = P.apply(torch.eye(Mass.shape[0], dtype=torch.float64))  # rows: P applied to unit vectors
        torch.testing.assert_close(Z, Z.T, rtol=0, atol=1e-14 * float(Z.abs().max()))
        kappa = dim + 2  # upper / lower
        q = (math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1)
        bound = 2 * q**3 / (1 + q**6)
        error = torch.linalg.matrix_norm(torch.eye(Mass.shape[0], dtype=torch.float64) - Z @ dense, ord=2)
        # in the D-scaled variables the error map is the polynomial itself: its norm there is the bound
        scaled = torch.sqrt(d)[:, None] * (torch.eye(Mass.shape[0], dtype=torch.float64) - Z @ dense) / torch.sqrt(d)[None]
        assert float(torch.linalg.matrix_norm(scaled, ord=2)) <= bound + 1e-12
        assert float(error) < 1.0
    with pytest.raises(ValueError, match="0 < lower < upper"):
        Chebyshev(Mass, (0.0, 2.0))
