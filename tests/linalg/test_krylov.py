"""Solvers x matrices against dense direct solves, dense reference iterates, and statuses."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from fem_prdp.linalg import (
    AMG,
    CG,
    GMRES,
    ILU0,
    MINRES,
    SSOR,
    BiCGStab,
    BlockDiagonal,
    BlockTriangular,
    IdentityPreconditioner,
    Jacobi,
    Richardson,
    SolveError,
    SolveStatus,
    SparseMatrix,
    solve,
)

from .cases import MATRICES, SOLVERS_FOR, as_sparse, saddle_point

SOLVERS = {"cg": CG, "minres": MINRES, "gmres": GMRES, "bicgstab": BiCGStab}
PRECONDS = {
    "none": lambda A: None,
    "jacobi": Jacobi,
    "ssor": SSOR,
    "ilu0": ILU0,
    "amg": lambda A: AMG(A, max_coarse=10),
}
CASES = [(m, s) for m, (_, kind) in MATRICES.items() for s in SOLVERS_FOR[kind]]


@pytest.mark.parametrize("matrix,method", CASES)
@pytest.mark.parametrize("pc", sorted(PRECONDS))
def test_converged_solve_matches_dense_direct_solve(matrix, method, pc):
    kind = MATRICES[matrix][1]
    if kind == "saddle" and pc != "none":
        pytest.skip("saddle points take the block preconditioners (tested below)")
    A = as_sparse(matrix)
    b = torch.sin(torch.arange(A.shape[0], dtype=torch.float64))
    ref = torch.linalg.solve(A.to_dense(), b)
    kwargs = {"restart": 40} if method == "gmres" else {}
    solver = SOLVERS[method](rtol=1e-13, max_iters=2000, **kwargs)
    P = PRECONDS[pc](A)
    x, info = solve(A, b, solver, P)
    assert info.status == SolveStatus.CONVERGED, info.message
    assert float((x - ref).norm() / ref.norm()) < 1e-10
    assert float(info.relative_residual) < 1e-11


@pytest.mark.parametrize("pc_kind", ["diagonal", "triangular"])
@pytest.mark.parametrize("method", ["minres", "gmres"])
def test_block_preconditioned_saddle_point_matches_dense(pc_kind, method):
    if method == "minres" and pc_kind == "triangular":
        pytest.skip("MINRES needs a symmetric positive definite preconditioner")
    S, n_u = saddle_point(6)
    A = SparseMatrix.from_scipy(S)
    K = A.block(slice(0, n_u), slice(0, n_u))
    Bm = A.block(slice(n_u, None), slice(0, n_u)).to_dense()
    schur = Bm @ torch.linalg.solve(K.to_dense(), Bm.T)  # exact Schur complement (small test)

    class DenseInverse(IdentityPreconditioner):
        def __init__(self, M):
            self.Minv = torch.linalg.inv(M)

        def apply(self, r):
            return r @ self.Minv.T

        def transpose(self):
            out = DenseInverse.__new__(DenseInverse)
            out.Minv = self.Minv.T
            return out

    P_u, P_s = AMG(K, max_coarse=10), DenseInverse(schur)
    P = (
        BlockDiagonal(n_u, P_u, P_s)
        if pc_kind == "diagonal"
        else BlockTriangular(n_u, P_u, P_s, A.block(slice(0, n_u), slice(n_u, None)))
    )
    b = torch.cos(torch.arange(A.shape[0], dtype=torch.float64))
    ref = torch.linalg.solve(A.to_dense(), b)
    x, info = solve(A, b, SOLVERS[method](rtol=1e-13, max_iters=500), P)
    assert info.status == SolveStatus.CONVERGED
    assert float((x - ref).norm() / ref.norm()) < 1e-10
    x_none, info_none = solve(A, b, SOLVERS[method](rtol=1e-13, max_iters=500))
    assert int(info.n_iters) < int(info_none.n_iters)


# ------------------------------------------------------------- dense references
def dense_pcg(A, b, Minv, k):
    x = torch.zeros_like(b)
    r = b.clone()
    z = Minv @ r
    p = z.clone()
    for _ in range(k):
        Ap = A @ p
        alpha = (r @ z) / (p @ Ap)
        x = x + alpha * p
        r_new = r - alpha * Ap
        z_new = Minv @ r_new
        p = z_new + (r_new @ z_new) / (r @ z) * p
        r, z = r_new, z_new
    return x


def dense_bicgstab(A, b, Minv, k):
    x = torch.zeros_like(b)
    r = b.clone()
    rh = r.clone()
    rho = alpha = omega = 1.0
    v = p = torch.zeros_like(b)
    for _ in range(k):
        rho_new = rh @ r
        p = r + (rho_new / rho) * (alpha / omega) * (p - omega * v)
        ph = Minv @ p
        v = A @ ph
        alpha = rho_new / (rh @ v)
        s = r - alpha * v
        sh = Minv @ s
        t = A @ sh
        omega = (t @ s) / (t @ t)
        x = x + alpha * ph + omega * sh
        r = s - omega * t
        rho = rho_new
    return x


def krylov_min_residual(A, b, Minv, k, norm_inv=None):
    """argmin ||b - A x|| over x in Minv K_k(A Minv, b) (GMRES, right preconditioned), or, with
    `norm_inv`, over x in K_k(Minv A, Minv b) in the Minv norm (preconditioned MINRES)."""
    if norm_inv is None:
        AM = A @ Minv
        basis = [b]
        for _ in range(k - 1):
            basis.append(AM @ basis[-1])
        Q, _ = torch.linalg.qr(torch.stack(basis, 1))
        y = torch.linalg.lstsq(AM @ Q, b[:, None]).solution[:, 0]
        return Minv @ (Q @ y)
    basis = [Minv @ b]
    for _ in range(k - 1):
        basis.append(Minv @ (A @ basis[-1]))
    Q, _ = torch.linalg.qr(torch.stack(basis, 1))
    L = torch.linalg.cholesky(norm_inv)  # weighted least squares in the M^-1 norm
    y = torch.linalg.lstsq(L.T @ (A @ Q), (L.T @ b)[:, None]).solution[:, 0]
    return Q @ y


@pytest.mark.parametrize("k", [1, 3, 7])
@pytest.mark.parametrize("method", ["cg", "bicgstab", "gmres", "minres"])
def test_capped_solve_returns_the_kth_iterate_of_a_dense_reference(method, k):
    matrix = "fem_advection_diffusion" if method in ("gmres", "bicgstab") else "fem_stiffness"
    A = as_sparse(matrix)
    D = A.to_dense()
    b = torch.sin(torch.arange(A.shape[0], dtype=torch.float64) + 1)
    P = Jacobi(A)
    Minv = torch.diag(P.inv_diag)
    solver = SOLVERS[method](rtol=0.0, max_iters=k, **({"restart": 10} if method == "gmres" else {}))
    x, info = solve(A, b, solver, P)
    assert info.status == SolveStatus.CAPPED and int(info.n_iters) == k
    ref = {
        "cg": lambda: dense_pcg(D, b, Minv, k),
        "bicgstab": lambda: dense_bicgstab(D, b, Minv, k),
        "gmres": lambda: krylov_min_residual(D, b, Minv, k),
        "minres": lambda: krylov_min_residual(D, b, Minv, k, norm_inv=Minv),
    }[method]()
    assert float((x - ref).norm() / ref.norm()) < 1e-9


def test_gmres_restarts_count_inner_iterations():
    A = as_sparse("fem_advection_diffusion")
    b = torch.ones(A.shape[0], dtype=torch.float64)
    x, info = solve(A, b, GMRES(rtol=0.0, restart=4, max_iters=10))
    assert int(info.n_iters) == 10 and info.status == SolveStatus.CAPPED
    # Two full cycles then a partial one: the residual history is monotone (GMRES minimises).
    h = info.residual_history[:, 0]
    assert (h[1:] <= h[:-1] * (1 + 1e-12)).all()


# --------------------------------------------------------------------- batches
@pytest.mark.parametrize("method", ["cg", "gmres", "bicgstab", "minres"])
def test_batched_rhs_and_matrices_match_single_solves(method):
    A = as_sparse("fem_stiffness")
    n = A.shape[0]
    B = torch.stack([torch.sin(torch.arange(n, dtype=torch.float64) * (s + 1)) for s in range(3)])
    solver = SOLVERS[method](rtol=1e-10, max_iters=500)
    xb, info = solve(A, B, solver, Jacobi(A))
    scales = torch.tensor([1.0, 3.0, 0.2], dtype=torch.float64)
    Ab = A.with_values(scales[:, None] * A.values)
    xm, info_m = solve(Ab, B, solver, Jacobi(Ab))
    for s in range(3):
        x1, info1 = solve(A, B[s], solver, Jacobi(A))
        assert torch.allclose(xb[s], x1, rtol=0, atol=1e-12)
        assert int(info.n_iters[s]) == int(info1.n_iters)
        assert torch.allclose(xm[s], x1 / scales[s], rtol=1e-8)
    assert info.converged.all() and len(info.statuses) == 3


def test_each_sample_has_its_own_status():
    A = as_sparse("fem_stiffness")
    n = A.shape[0]
    b = torch.stack([torch.zeros(n, dtype=torch.float64), torch.ones(n, dtype=torch.float64)])
    b[1, 0] = float("nan")
    x, info = solve(A, b, CG(rtol=1e-8, max_iters=50))
    assert info.statuses == (SolveStatus.CONVERGED, SolveStatus.NONFINITE)
    assert info.status == SolveStatus.NONFINITE
    assert int(info.n_iters[0]) == 0 and torch.equal(x[0], torch.zeros(n, dtype=torch.float64))


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("case", ["converged", "capped", "past_round_off", "indefinite", "nonfinite"])
def test_host_scalars_iterate_as_the_device_scalars(case, batch):
    """CG on the CPU keeps its per-sample scalars on the host (`_run_host_scalars`): the
    same vector operations, so the same iterates, statuses, counts and history as the loop
    with [B] tensors that GPUs run (`_run_device_scalars`). The batch mixes samples that
    stop at different iterations and for different reasons."""
    from fem_prdp.linalg.solve import _Operator

    A = as_sparse("fem_stiffness")
    solver = {"converged": CG(rtol=1e-10, max_iters=200), "capped": CG(rtol=0.0, max_iters=7),
              "past_round_off": CG(rtol=0.0, max_iters=120), "indefinite": CG(rtol=1e-8, max_iters=50),
              "nonfinite": CG(rtol=0.0, max_iters=5)}[case]
    if case == "indefinite":
        A = A.with_values(-A.values)
    n = A.shape[0]
    b = torch.rand(3, n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    b[1] = torch.sin(torch.arange(n, dtype=torch.float64) / 9)  # smooth: fewer iterations
    b[2, : n // 2] = 0.0
    if case == "nonfinite":
        b[0, 3] = float("nan")
    b = b[:batch]
    P = Jacobi(as_sparse("fem_stiffness"))  # SPD: the indefinite case is A's, not the preconditioner's
    outcomes = []
    with torch.no_grad():
        for run in (solver._run_host_scalars, solver._run_device_scalars):
            x, state = run(_Operator(A.pattern, A.values), P, b, torch.zeros_like(b), None)
            history = state.history if isinstance(state.history, torch.Tensor) else torch.stack(state.history)
            outcomes.append((x, state.status.tolist(), state.n_iters.tolist(), history))
    (x1, status1, iters1, hist1), (x2, status2, iters2, hist2) = outcomes
    assert status1 == status2 and iters1 == iters2 and hist1.shape == hist2.shape
    assert status1[0] == {"converged": 0, "capped": 1, "past_round_off": 1, "indefinite": 2, "nonfinite": 4}[case]
    assert torch.equal(x1.isnan(), x2.isnan())
    assert torch.allclose(x1.nan_to_num(), x2.nan_to_num(), rtol=1e-12, atol=1e-14)
    if case != "past_round_off":  # there the residuals are round-off, each loop its own
        assert torch.allclose(hist1, hist2, rtol=1e-10, atol=1e-12 * float(hist2[0].nan_to_num().max()),
                              equal_nan=True)


# ------------------------------------------------------------------- statuses
def test_capped_cg_reports_capped_not_error():
    A = as_sparse("fem_stiffness")
    b = torch.ones(A.shape[0], dtype=torch.float64)
    x, info = solve(A, b, CG(rtol=1e-12, max_iters=3), check=True)
    assert info.status == SolveStatus.CAPPED and int(info.n_iters) == 3
    assert "max_iters" in info.message and torch.isfinite(x).all()


def test_nan_in_rhs_is_nonfinite_and_raises_with_check():
    A = as_sparse("fem_stiffness")
    b = torch.ones(A.shape[0], dtype=torch.float64)
    b[3] = float("nan")
    _, info = solve(A, b, CG())
    assert info.status == SolveStatus.NONFINITE
    with pytest.raises(SolveError, match="NaN or Inf"):
        solve(A, b, CG(), check=True)


def test_indefinite_matrix_under_cg_is_reported():
    A = SparseMatrix.from_dense(torch.diag(torch.tensor([1.0, -1.0, 2.0], dtype=torch.float64)))
    b = torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64)
    _, info = solve(A, b, CG(max_iters=10))
    assert info.status == SolveStatus.INDEFINITE
    x, info_m = solve(A, b, MINRES(rtol=1e-12, max_iters=10))  # MINRES handles it
    assert info_m.status == SolveStatus.CONVERGED
    assert torch.allclose(x, torch.tensor([1.0, -1.0, 0.5], dtype=torch.float64))


def test_bicgstab_breakdown_is_reported():
    A = SparseMatrix.from_dense(torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64))
    b = torch.tensor([1.0, 0.0], dtype=torch.float64)  # (r_hat, A r) = 0 at the first step
    _, info = solve(A, b, BiCGStab(max_iters=10))
    assert info.status == SolveStatus.BREAKDOWN
    with pytest.raises(SolveError, match="broke down"):
        solve(A, b, BiCGStab(max_iters=10), check=True)


@pytest.mark.parametrize("method", sorted(SOLVERS))
def test_zero_rhs_returns_zero_in_zero_iterations(method):
    A = as_sparse("fem_stiffness")
    x, info = solve(A, torch.zeros(A.shape[0], dtype=torch.float64), SOLVERS[method]())
    assert info.status == SolveStatus.CONVERGED and int(info.n_iters) == 0
    assert torch.equal(x, torch.zeros_like(x))


def test_shape_and_config_errors_are_clear():
    A = as_sparse("fem_stiffness")
    n = A.shape[0]
    with pytest.raises(ValueError, match=rf"b has shape \(12,\), expected \(n,\).*n = {n}.*Dirichlet"):
        solve(A, torch.zeros(12, dtype=torch.float64))
    with pytest.raises(ValueError, match="float32.*float64"):
        solve(A, torch.zeros(n, dtype=torch.float32))
    with pytest.raises(ValueError, match="max_iters must be an int >= 0"):
        CG(max_iters=-1)
    with pytest.raises(ValueError, match="rtol must be a finite number"):
        GMRES(rtol=float("nan"))
    with pytest.raises(ValueError, match="restart must be an int >= 1"):
        GMRES(restart=0)
    with pytest.raises(ValueError, match="grad must be one of"):
        solve(A, torch.zeros(n, dtype=torch.float64), grad="adjoint")
    zero_diag = SparseMatrix.from_dense(torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64))
    with pytest.raises(ValueError, match="zero diagonal in rows"):
        Jacobi(zero_diag)


def test_warm_start_reaches_same_solution_faster():
    A = as_sparse("fem_stiffness")
    b = torch.ones(A.shape[0], dtype=torch.float64)
    x, info = solve(A, b, CG(rtol=1e-10))
    x2, info2 = solve(A, b, CG(rtol=1e-10), x0=x)
    assert int(info2.n_iters) == 0 < int(info.n_iters)
    x3, _ = solve(A, b, CG(rtol=1e-12), x0=torch.randn_like(x))
    assert np.allclose(x3.numpy(), x.numpy(), atol=1e-8)


# ------------------------------------------------------- the paper's Jacobi method
def _btcs_fd_matrix(n=12, nu_dt=1e-3):
    """The paper's 2D finite-difference BTCS matrix I - nu dt Lap_h (strictly diagonally
    dominant, so the Jacobi method converges)."""
    h = 1 / (n + 1)
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    lap = sp.kron(sp.eye(n), T) + sp.kron(T, sp.eye(n))
    return SparseMatrix.from_scipy(sp.csr_matrix(sp.eye(n * n) + nu_dt / h**2 * lap))


@pytest.mark.parametrize("k", [1, 4, 9])
def test_richardson_with_jacobi_is_the_jacobi_method(k):
    A = _btcs_fd_matrix()
    D = A.to_dense()
    b = torch.sin(torch.arange(A.shape[0], dtype=torch.float64) + 1)
    x_ref = torch.zeros_like(b)
    for _ in range(k):  # x_i <- (b_i - sum_{j != i} a_ij x_j) / a_ii
        x_ref = (b - (D - torch.diag(torch.diag(D))) @ x_ref) / torch.diag(D)
    x, info = solve(A, b, Richardson(rtol=0.0, max_iters=k), Jacobi(A))
    assert info.status == SolveStatus.CAPPED and int(info.n_iters) == k
    assert float((x - x_ref).norm() / x_ref.norm()) < 1e-13


def test_richardson_converges_to_the_direct_solve_and_reports_divergence():
    A = _btcs_fd_matrix()
    b = torch.cos(torch.arange(A.shape[0], dtype=torch.float64))
    x, info = solve(A, b, Richardson(rtol=1e-12, max_iters=500), Jacobi(A), check=True)
    ref = torch.linalg.solve(A.to_dense(), b)
    assert info.status == SolveStatus.CONVERGED and float((x - ref).norm() / ref.norm()) < 1e-10
    # Jacobi on a stiffness matrix with omega = 2 diverges: reported, not returned as a solution.
    K = as_sparse("fem_stiffness")
    _, bad = solve(K, torch.ones(K.shape[0], dtype=torch.float64), Richardson(omega=2.0, max_iters=3000), Jacobi(K))
    assert bad.status in (SolveStatus.CAPPED, SolveStatus.NONFINITE)
    assert float(bad.relative_residual) > 1.0
    with pytest.raises(ValueError, match="omega must be a finite number > 0"):
        Richardson(omega=0.0)


@pytest.mark.parametrize("grad", ["unrolled", "implicit"])
def test_richardson_gradients(grad):
    A = _btcs_fd_matrix(n=4)
    values = A.values.clone().requires_grad_(True)
    b = torch.linspace(0.1, 1.0, A.shape[0], dtype=torch.float64, requires_grad=True)

    def f(v, rhs):
        M = A.with_values(v)
        return solve(M, rhs, Richardson(rtol=0.0 if grad == "unrolled" else 1e-13, max_iters=6 if grad == "unrolled" else 400),
                     Jacobi(M) if grad == "unrolled" else Jacobi(A), grad=grad)[0]

    assert torch.autograd.gradcheck(f, (values, b))
