"""The AIR multigrid cycle in torch against pyamg's own cycle, the Chebyshev smoother against
its polynomial, the W-cycle against the V-cycle, the float32 cycle against the float64 one, the PCD Schur preconditioner
against its defining products, flexible GMRES with a changing preconditioner, and the status
of a solve whose residual estimate drifted."""

import importlib

import numpy as np
import pyamg
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg  # noqa: F401  (sp.linalg)
import torch

from fem_prdp.linalg import (
    AMG,
    CG,
    GMRES,
    CahouetChabard,
    Jacobi,
    Preconditioner,
    PressureConvectionDiffusion,
    SolveStatus,
    SparseMatrix,
    native,
    solve,
)
from fem_prdp.linalg.krylov.recycle import ConjugateDirections
from fem_prdp.linalg.precond import chebyshev_iteration
from fem_prdp.linalg.stencils import jumping_diffusion


def _convection_diffusion(n=24, peclet=50.0):
    """Upwind finite differences of -Laplace(u) + peclet * du/dx on an n x n grid."""
    A = pyamg.gallery.poisson((n, n), format="csr") * 1.0
    Cx = sp.kron(sp.eye(n), sp.diags([-np.ones(n - 1), np.ones(n)], [-1, 0])) * (peclet / n)
    return (A + Cx).tocsr()


def test_air_cycle_in_torch_is_pyamgs_cycle():
    A = _convection_diffusion()
    r = np.random.default_rng(0).random((3, A.shape[0]))
    P = AMG(SparseMatrix.from_scipy(A, dtype=torch.float64), kind="air", max_coarse=20)
    reference = pyamg.air_solver(A, max_coarse=20).aspreconditioner(cycle="V")
    z = P.apply(torch.from_numpy(r)).numpy()
    assert P.n_levels > 2
    for zi, ri in zip(z, r, strict=True):
        np.testing.assert_allclose(zi, reference.matvec(ri), rtol=1e-12, atol=1e-12 * np.abs(zi).max())


def test_air_preconditions_a_convection_dominated_system_and_its_transpose():
    A = SparseMatrix.from_scipy(_convection_diffusion(40, 200.0), dtype=torch.float64)
    b = torch.rand(A.shape[0], dtype=torch.float64)
    P = AMG(A, kind="air")
    x, info = solve(A, b, GMRES(rtol=1e-10, max_iters=200, restart=200), P)
    _, plain = solve(A, b, GMRES(rtol=1e-10, max_iters=2000, restart=200))
    assert info.status == SolveStatus.CONVERGED and int(info.n_iters[0]) * 4 < int(plain.n_iters[0])
    x_t, info_t = solve(A.T, b, GMRES(rtol=1e-10, max_iters=200, restart=200), P.transpose())
    assert info_t.status == SolveStatus.CONVERGED
    dense = torch.from_numpy(A.to_scipy().toarray())
    torch.testing.assert_close(x_t, torch.linalg.solve(dense.T, b), rtol=1e-8, atol=1e-10)
    with pytest.raises(ValueError, match="kind must be one of"):
        AMG(A, kind="ruge")


def test_chebyshev_sweep_is_the_chebyshev_polynomial_of_the_jacobi_operator():
    """One smoothing sweep from zero maps the error e to T_d((theta - lambda) / delta) /
    T_d(theta / delta) e in the eigenbasis of D^-1 A (Saad, Alg. 12.1)."""
    S = jumping_diffusion(10, dim=2)
    A = SparseMatrix.from_scipy(S, dtype=torch.float64)
    for degree in (1, 2, 4):
        P = AMG(A, smoother="chebyshev", degree=degree, max_coarse=10, cycle_dtype="float64")
        level = P.levels[0]
        lower, upper = level[2]
        e = torch.from_numpy(np.random.default_rng(degree).random(S.shape[0]))
        x = chebyshev_iteration(level[0], level[1], (lower, upper), degree, A.matvec(e))
        d = S.diagonal()
        lam, Q = np.linalg.eigh(S.toarray() / np.sqrt(np.outer(d, d)))  # D^-1/2 A D^-1/2
        theta, delta = (upper + lower) / 2, (upper - lower) / 2
        coef = np.zeros(degree + 1)
        coef[-1] = 1.0
        damp = np.polynomial.chebyshev.chebval((theta - lam) / delta, coef) / np.polynomial.chebyshev.chebval(
            theta / delta, coef)
        E = (Q * damp) @ Q.T  # error propagation in the D^1/2-scaled variables
        expected = e.numpy() - (E @ (np.sqrt(d) * e.numpy())) / np.sqrt(d)
        np.testing.assert_allclose(x.numpy(), expected, rtol=1e-10, atol=1e-12)
        assert upper >= np.abs(lam).max() and lower < upper  # the interval covers the spectrum's top


def test_chebyshev_cycle_is_symmetric_and_beats_jacobi_on_jumping_coefficients():
    S = jumping_diffusion(40, dim=2)
    A = SparseMatrix.from_scipy(S, dtype=torch.float64)
    b = torch.from_numpy(np.random.default_rng(1).random(S.shape[0]))
    its = {}
    for smoother in ("jacobi", "chebyshev"):
        exact = AMG(A, smoother=smoother, max_coarse=50, cycle_dtype="float64")
        u, v = torch.rand(2, S.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(2))
        torch.testing.assert_close(u @ exact.apply(v), v @ exact.apply(u), rtol=1e-10, atol=0)  # CG needs B = B^T
        P = AMG(A, smoother=smoother, max_coarse=50)  # the float32 cycle: symmetric to its round-off
        torch.testing.assert_close(u @ P.apply(v), v @ P.apply(u), rtol=1e-5, atol=0)
        x, info = solve(A, b, CG(rtol=1e-10, max_iters=300), P)
        assert info.status == SolveStatus.CONVERGED
        torch.testing.assert_close(x, torch.from_numpy(sp.linalg.spsolve(S.tocsc(), b.numpy())), rtol=1e-7, atol=0)
        its[smoother] = int(info.n_iters[0])
    assert its["chebyshev"] < its["jacobi"]  # 19 vs 23 here; 26 vs 47 on 3D P1 tetrahedra (RESULTS)
    with pytest.raises(ValueError, match="smoother must be one of"):
        AMG(A, smoother="gauss-seidel")


def test_w_cycle_is_symmetric_and_contracts_the_error_faster_than_the_v_cycle():
    S = jumping_diffusion(32, dim=2)
    A = SparseMatrix.from_scipy(S, dtype=torch.float64)
    n = S.shape[0]
    cycles = {c: AMG(A, max_coarse=10, cycle_dtype="float64", cycle=c) for c in ("V", "W", "auto")}
    assert cycles["V"].n_levels >= 4 and cycles["W"].w_cycle and not cycles["auto"].w_cycle  # level 1: < 4000 rows
    eye = torch.eye(n, dtype=torch.float64)
    dense = {c: P.apply(eye).T for c, P in cycles.items()}  # columns B e_i
    torch.testing.assert_close(dense["auto"], dense["V"], rtol=0, atol=0)
    Ad = torch.from_numpy(S.toarray())
    rho = {}
    for c in ("V", "W"):
        B = dense[c]
        torch.testing.assert_close(B, B.T, rtol=1e-10, atol=1e-12 * float(B.abs().max()))  # CG needs B = B^T
        assert float(torch.linalg.eigvalsh((B + B.T) / 2).min()) > 0
        # the cycle as a stationary iteration: its error propagation I - B A
        rho[c] = float(torch.linalg.eigvals(torch.eye(n, dtype=torch.float64) - B @ Ad).abs().max())
    assert rho["W"] < rho["V"] < 1, rho  # 0.440 vs 0.462 here; CG 13 vs 14 iterations
    b = torch.from_numpy(np.random.default_rng(3).random(n))
    its = {c: int(solve(A, b, CG(rtol=1e-10, max_iters=300), cycles[c])[1].n_iters[0]) for c in ("V", "W")}
    assert its["W"] <= its["V"], its
    with pytest.raises(ValueError, match="cycle must be one of"):
        AMG(A, cycle="F")


def test_a_float32_cycle_preconditions_float64_cg_as_well_as_a_float64_one():
    from fem_prdp.fem.bench import steady_heat_system

    _, rho, _, system = steady_heat_system(16)  # 3D P1, conductivity jumping by 1e3
    A, b = system(rho)
    mixed, exact = AMG(A), AMG(A, cycle_dtype="float64")
    assert mixed.dtype == torch.float32 and mixed.levels[0][0].dtype == torch.float32
    assert mixed.apply(b[None]).dtype == torch.float64
    reference = torch.from_numpy(sp.linalg.spsolve(A.to_scipy().tocsc(), b.numpy()))
    its = {}
    for name, P in (("mixed", mixed), ("exact", exact)):
        x, info = solve(A, b, CG(rtol=1e-10, max_iters=200), P)
        assert info.status == SolveStatus.CONVERGED and float(info.residual_norm[0]) <= 1e-10 * float(b.norm())
        torch.testing.assert_close(x, reference, rtol=1e-8, atol=1e-8 * float(reference.abs().max()))
        its[name] = int(info.n_iters[0])
    assert its["mixed"] <= its["exact"] + 2
    with pytest.raises(ValueError, match="cycle_dtype must be one of"):
        AMG(A, cycle_dtype="half")


@pytest.mark.skipif(not native.available(), reason=native.status())
def test_every_level_multiplies_through_the_symmetric_layout_on_one_vector():
    from fem_prdp.fem.bench import steady_heat_system

    _, rho, _, system = steady_heat_system(16)
    A, b = system(rho)
    M = AMG(A, max_coarse=50)
    assert len(M.levels) >= 2 and all(level.layout is not None for level in M.levels)
    assert M.levels[0].layout[0].parts == native.layout_parts()
    plain = AMG(A, max_coarse=50)
    plain.levels = [level._replace(layout=None) for level in plain.levels]
    M._native = plain._native = None  # the torch cycle: its products through the layout or not
    r = b[None]
    # the same float32 cycle, its products summed in another order
    torch.testing.assert_close(M.apply(r), plain.apply(r), rtol=1e-5, atol=1e-6 * float(plain.apply(r).abs().max()))
    its = [int(solve(A, b, CG(rtol=1e-10, max_iters=200), P)[1].n_iters[0]) for P in (M, plain)]
    assert its[0] == its[1], its
    # a vector that needs its gradient: the library's product, and the gradient flows
    rg = r.clone().requires_grad_(True)
    M.apply(rg).sum().backward()
    assert rg.grad is not None and torch.isfinite(rg.grad).all()
    # values that are not symmetric to round-off: no layout (the cycle multiplies by A as given)
    skewed = A.values.clone()
    skewed[int(torch.nonzero((A.pattern.row_indices() != A.pattern.col.long()) & (A.values != 0))[0, 0])] *= 1.5
    assert AMG(A.with_values(skewed), smoother="jacobi", cycle_dtype="float64").levels[0].layout is None


@pytest.mark.skipif(not native.available(), reason=native.status())
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_the_fused_cycle_is_the_torch_cycle(threads, monkeypatch):
    """`native.MultigridCycle` (the whole cycle in one call) against the torch cycle it
    replaces on one vector, for V- and W-cycles, several degrees and sweeps, both cycle
    precisions and thread counts; CG takes as many iterations with either."""
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)  # the kernels' thread count
    S = jumping_diffusion(40, dim=2)
    A = SparseMatrix.from_scipy(S, dtype=torch.float64)
    b = torch.from_numpy(np.random.default_rng(5).random(S.shape[0]))
    for kwargs in ({}, {"cycle": "W"}, {"cycle_dtype": "float64", "degree": 3},
                   {"cycle": "W", "cycle_dtype": "float64", "presmooth": 2, "postsmooth": 0, "degree": 1}):
        P = AMG(A, max_coarse=20, **kwargs)
        assert P._native is not None and P.n_levels >= 3 and P.levels[0].layout[0].parts == threads
        z = P.apply(b[None])
        with native.enabled(False):  # the torch cycle
            reference = P.apply(b[None])
        eps = torch.finfo(P.dtype).eps
        torch.testing.assert_close(z, reference, rtol=0, atol=200 * eps * float(reference.abs().max()))
        its = []
        for enabled in (True, False):
            with native.enabled(enabled):
                its.append(int(solve(A, b, CG(rtol=1e-10, max_iters=200), P)[1].n_iters[0]))
        assert abs(its[0] - its[1]) <= 1, (kwargs, its)
    # a matrix at most max_coarse rows: the dense coarsest level alone
    small = SparseMatrix.from_scipy(jumping_diffusion(4, dim=2), dtype=torch.float64)
    P = AMG(small, max_coarse=100)
    r = torch.rand(1, small.shape[0], dtype=torch.float64)
    assert P.n_levels == 1 and P._native is not None
    torch.testing.assert_close(P.apply(r), r @ P.coarse_inv.double().T, rtol=1e-6, atol=0)
    # not what the fused cycle takes: Jacobi smoothing, a batch, a vector that needs its gradient
    assert AMG(A, max_coarse=20, smoother="jacobi")._native is None
    P = AMG(A, max_coarse=20)
    calls = []
    monkeypatch.setattr(P._native, "apply_into", lambda r, out: calls.append(1) or out)
    P.apply(torch.stack([b, b]))
    P.apply(b[None].clone().requires_grad_(True))
    assert not calls
    P.apply(b[None])
    assert calls


@pytest.mark.skipif(not native.available(), reason=native.status())
@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("cycle_dtype", ["float32", "float64"])
def test_the_fused_amg_cg_loop_is_the_torch_loop(threads, cycle_dtype, monkeypatch):
    """CG and the fused cycle in one kernel (`MultigridCycle.cg`, which `solve` takes for one
    float64 system) against the torch CG loop around the same cycle: iterates, histories,
    statuses and counts, capped, converged, from zero and from a start, a right-hand side
    that stops it at once and a non-finite one; the directions it records (in blocks, up to
    a capacity) start the adjoint where the torch loop's do. Both loops apply the same
    cycle; only the order of their sums differs, which a float32 cycle's input rounding can
    turn into its own eps."""
    solve_module = importlib.import_module("fem_prdp.linalg.solve")
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)  # the kernels' thread count
    S = jumping_diffusion(40, dim=2)
    A = SparseMatrix.from_scipy(S, dtype=torch.float64)
    rng = np.random.default_rng(7)
    b, x0 = (torch.from_numpy(rng.random(S.shape[0])) for _ in range(2))
    P = AMG(A, max_coarse=20, cycle_dtype=cycle_dtype)
    tol = 1e-9 if cycle_dtype == "float64" else 1e-5

    def both(b, solver, x0=None, directions=(None, None)):
        operator = solve_module._Operator(A.pattern, A.values)
        start = torch.zeros_like(b) if x0 is None else x0
        fused = solve_module._run(operator, b[None], start[None], solver, P, directions[0])
        with monkeypatch.context() as m:
            m.setattr(solve_module, "_fused_amg", lambda *args: None)
            ref = solve_module._run(operator, b[None], start[None], solver, P, directions[1])
        assert fused[1].loop == "fused" and ref[1].loop == "torch"
        return fused, ref

    for solver, start in [(CG(rtol=0.0, max_iters=k), x) for k in (0, 1, 5, 9, 30) for x in (None, x0)] + [
            (CG(rtol=1e-10, max_iters=200), None), (CG(rtol=1e-10, max_iters=200), x0)]:
        (xf, fused), (xr, ref) = both(b, solver, start)
        torch.testing.assert_close(xf, xr, rtol=tol, atol=tol * 1e-3 * float(xr.abs().max()))
        torch.testing.assert_close(fused.residual_history, ref.residual_history, rtol=tol, atol=1e-14)
        assert fused.statuses == ref.statuses and torch.equal(fused.n_iters, ref.n_iters)
    converged_iterations = int(fused.n_iters[0])
    assert fused.status == SolveStatus.CONVERGED and 8 < converged_iterations < 40
    exact = torch.linalg.solve(torch.from_numpy(S.toarray()), b)
    assert float((xf[0] - exact).norm() / exact.norm()) < 1e-8
    # zero: stopped before the first iteration, its history run out to the cap when not checked
    for solver in (CG(rtol=0.0, max_iters=6), CG(rtol=1e-8, max_iters=6)):
        (xf, fused), (xr, ref) = both(torch.zeros_like(b), solver)
        assert fused.statuses == ref.statuses == (SolveStatus.CONVERGED,) and int(fused.n_iters[0]) == 0
        assert fused.residual_history.shape == ref.residual_history.shape and not xf.any()
    nan = b.clone()
    nan[3] = float("nan")
    (_, fused), (_, ref) = both(nan, CG(rtol=1e-8, max_iters=20))
    assert fused.statuses == ref.statuses == (SolveStatus.NONFINITE,)
    # the recorded directions, past one block and cut at a capacity, start the adjoint alike
    g = torch.from_numpy(rng.random(S.shape[0]))[None]
    for capacity in (3, 64):
        kept = (ConjugateDirections(capacity), ConjugateDirections(capacity))
        both(b, CG(rtol=1e-10, max_iters=200), directions=kept)
        assert len(kept[0]) == len(kept[1]) == min(capacity, converged_iterations)
        torch.testing.assert_close(kept[0].start(g), kept[1].start(g), rtol=1e-5, atol=1e-6)
    # through solve and its backward: the same gradients, the adjoint as many iterations
    grads, counts = [], []
    for fused_loop in (True, False):
        with monkeypatch.context() as m:
            if not fused_loop:
                m.setattr(solve_module, "_fused_amg", lambda *args: None)
            values = A.values.clone().requires_grad_(True)
            x, info = solve(A.with_values(values), b, CG(rtol=1e-10, max_iters=200), P)
            (x * g[0]).sum().backward()
        grads.append(values.grad)
        counts.append((int(info.n_iters[0]), int(info.adjoint[0].n_iters[0]), info.adjoint[0].loop))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-7, atol=1e-9 * float(grads[1].abs().max()))
    assert counts[0][:2] == counts[1][:2] and counts[0][1] < counts[0][0] and counts[0][2] == "fused"


class _Dense(Preconditioner):
    def __init__(self, M):
        self.M = M

    def apply(self, r):
        return r @ self.M.T

    def transpose(self):
        return _Dense(self.M.T)


def test_pcd_is_its_defining_product_and_reduces_to_cahouet_chabard_without_convection():
    g = torch.Generator().manual_seed(1)
    n = 12
    Mp = torch.diag(torch.rand(n, generator=g, dtype=torch.float64) + 1)
    Lp = torch.rand(n, n, generator=g, dtype=torch.float64)
    Lp = Lp @ Lp.T + n * torch.eye(n, dtype=torch.float64)
    C = torch.rand(n, n, generator=g, dtype=torch.float64)
    nu, dt = 0.01, 0.1
    Fp = Mp / dt + nu * Lp + C
    pcd = PressureConvectionDiffusion(_Dense(torch.linalg.inv(Mp)), SparseMatrix.from_dense(Fp),
                                      _Dense(torch.linalg.inv(Lp)))
    r = torch.rand(3, n, generator=g, dtype=torch.float64)
    S_inv = torch.linalg.inv(Lp) @ Fp @ torch.linalg.inv(Mp)
    torch.testing.assert_close(pcd.apply(r), r @ S_inv.T)
    torch.testing.assert_close(pcd.transpose().apply(r), r @ S_inv)
    # Without convection, L^-1 (M / dt + nu L) M^-1 = L^-1 / dt + nu M^-1: Cahouet-Chabard.
    stokes = PressureConvectionDiffusion(_Dense(torch.linalg.inv(Mp)), SparseMatrix.from_dense(Mp / dt + nu * Lp),
                                         _Dense(torch.linalg.inv(Lp)))
    cc = CahouetChabard(_Dense(torch.linalg.inv(Mp)), nu, _Dense(torch.linalg.inv(Lp)), dt)
    torch.testing.assert_close(stokes.apply(r), cc.apply(r))


def test_a_residual_estimate_that_drifted_from_the_true_residual_is_not_converged():
    """GMRES's residual estimate goes on falling below float32's round-off floor (here to
    6e-11) while the true residual stays near 1e-6: not CONVERGED."""
    A = SparseMatrix.from_scipy(_convection_diffusion(8, 5.0), dtype=torch.float32)
    b = torch.ones(A.shape[0], dtype=torch.float32)
    _, info = solve(A, b, GMRES(rtol=1e-10, max_iters=50, restart=50), Jacobi(A))
    assert float(info.residual_history[-1, 0]) <= 1e-10 * float(info.rhs_norm[0])  # the estimate met rtol
    assert info.status == SolveStatus.BREAKDOWN
    assert float(info.residual_norm[0]) > 100 * 1e-10 * float(info.rhs_norm[0])
    _, honest = solve(A, b, GMRES(rtol=1e-5, max_iters=50, restart=50), Jacobi(A))
    assert honest.status == SolveStatus.CONVERGED


def test_flexible_gmres_takes_a_preconditioner_that_changes_between_applications():
    """A Jacobi scaled 3x after five applications is no fixed linear map; GMRES applied to
    the stored z_j = M v_j still converges, to the dense solution."""
    A = SparseMatrix.from_scipy(_convection_diffusion(8, 5.0), dtype=torch.float64)
    b = torch.ones(A.shape[0], dtype=torch.float64)
    jacobi, calls = Jacobi(A), []

    class Changing(Preconditioner):
        def apply(self, r):
            calls.append(1)
            return jacobi.apply(r) * (1.0 if len(calls) < 6 else 3.0)

        def transpose(self):
            return self

    x, info = solve(A, b, GMRES(rtol=1e-10, max_iters=50, restart=50), Changing())
    assert info.status == SolveStatus.CONVERGED and len(calls) > 6
    torch.testing.assert_close(x, torch.linalg.solve(A.to_dense(), b), rtol=1e-8, atol=0)
