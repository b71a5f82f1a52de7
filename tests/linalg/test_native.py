"""The fused native loops (Jacobi-PCG, Jacobi-Richardson) against the torch iterations they
replace (same iterates, statuses, counts and histories), their stopping reasons, the values
gradient, the multi-vector product, and the fallback when no kernel can be built."""

import os
import subprocess
import sys

import pytest
import torch

from fem_prdp.linalg import (
    CG,
    GMRES,
    IdentityPreconditioner,
    Jacobi,
    Richardson,
    SolveStatus,
    SparseMatrix,
    native,
    solve,
)
from fem_prdp.linalg.stencils import laplacian

pytestmark = pytest.mark.skipif(not native.available(), reason=native.status())


def _both(A, b, solver, precond, x0=None):
    """(fused, torch) results of the same solve."""
    assert native.available()
    fused = solve(A, b, solver, precond, x0)
    with native.enabled(False):
        ref = solve(A, b, solver, precond, x0)
    return fused, ref


def _spd(n=12, dim=2, dtype=torch.float64):
    A = SparseMatrix.from_scipy(laplacian(n, dim), dtype=dtype)
    # a varying diagonal, so Jacobi is not a multiple of the identity
    d = A.pattern.diagonal_slots()
    values = A.values.clone()
    values[d] += torch.linspace(0.0, 2.0, len(d), dtype=dtype)
    return A.with_values(values)


@pytest.mark.parametrize("batch", [1, 2, 3, 16, 17, 40])
@pytest.mark.parametrize("precond", ["jacobi", "none"])
@pytest.mark.parametrize("method", ["cg", "richardson"])
def test_capped_iterates_match_the_torch_loop(batch, precond, method):
    A = _spd()
    gen = torch.Generator().manual_seed(batch)
    b = torch.rand(batch, A.shape[0], generator=gen, dtype=torch.float64)
    x0 = torch.rand(batch, A.shape[0], generator=gen, dtype=torch.float64)
    P = Jacobi(A) if precond == "jacobi" else IdentityPreconditioner()
    for k in (0, 1, 7, 30):
        # Richardson without a preconditioner converges for omega < 2 / lambda_max (8 here).
        solver = CG(rtol=0.0, max_iters=k) if method == "cg" else Richardson(rtol=0.0, max_iters=k, omega=0.2)
        (xf, inf), (xr, inr) = _both(A, b, solver, P, x0)
        torch.testing.assert_close(xf, xr, rtol=1e-11, atol=1e-11)
        torch.testing.assert_close(inf.residual_history, inr.residual_history, rtol=1e-9, atol=1e-12)
        assert inf.statuses == inr.statuses
        assert torch.equal(inf.n_iters, inr.n_iters)


def test_batched_matrices_and_float32():
    A = _spd()
    scale = torch.tensor([[1.0], [2.5], [0.3]], dtype=torch.float64)
    Ab = A.with_values(A.values * scale)  # three matrices on one pattern
    b = torch.rand(3, A.shape[0], dtype=torch.float64)
    (xf, inf), (xr, inr) = _both(Ab, b, CG(rtol=0.0, max_iters=15), Jacobi(Ab))
    torch.testing.assert_close(xf, xr, rtol=1e-11, atol=1e-11)
    A32 = SparseMatrix(A.pattern, A.values.float())
    (xf, inf), (xr, inr) = _both(A32, b.float(), CG(rtol=0.0, max_iters=15), Jacobi(A32))
    assert xf.dtype == torch.float32
    torch.testing.assert_close(xf, xr, rtol=2e-4, atol=2e-5)


def test_converged_solve_matches_dense_direct_and_stops_early():
    A = _spd(16)
    b = torch.rand(4, A.shape[0], dtype=torch.float64)
    b[2] = 0.0  # a zero right-hand side converges with 0 iterations
    (x, info), (_, ref) = _both(A, b, CG(rtol=1e-12, max_iters=1000), Jacobi(A))
    exact = torch.linalg.solve(A.to_dense(), b.T).T
    torch.testing.assert_close(x, exact, rtol=1e-10, atol=1e-12)
    assert info.statuses == (SolveStatus.CONVERGED,) * 4
    assert info.n_iters[2] == 0 and torch.equal(info.n_iters, ref.n_iters)
    assert info.residual_history.shape[0] == int(info.n_iters.max()) + 1 < 1001


def test_richardson_converges_like_the_torch_loop_and_reports_divergence():
    A = _spd(10, dim=1)
    b = torch.rand(3, A.shape[0], dtype=torch.float64)
    (x, info), (xr, ref) = _both(A, b, Richardson(rtol=1e-8, max_iters=20_000), Jacobi(A))
    assert info.statuses == ref.statuses == (SolveStatus.CONVERGED,) * 3
    assert torch.equal(info.n_iters, ref.n_iters)
    torch.testing.assert_close(x, torch.linalg.solve(A.to_dense(), b.T).T, rtol=1e-6, atol=1e-8)
    (x, info), (_, ref) = _both(A, b, Richardson(rtol=1e-8, max_iters=5000, omega=3.0), Jacobi(A))
    assert info.status == ref.status == SolveStatus.NONFINITE  # omega = 3: the iteration diverges


def test_stopping_reasons():
    A = _spd(8)
    b = torch.ones(2, A.shape[0], dtype=torch.float64)
    b[1, 3] = float("nan")
    (x, info), _ = _both(A, b, CG(rtol=1e-10, max_iters=50), Jacobi(A))
    assert info.statuses == (SolveStatus.CONVERGED, SolveStatus.NONFINITE)
    indefinite = A.with_values(-A.values)
    (x, info), (_, ref) = _both(indefinite, b[:1], CG(rtol=1e-10, max_iters=50), IdentityPreconditioner())
    assert info.status == ref.status == SolveStatus.INDEFINITE
    (x, info), _ = _both(A, b[:1], CG(rtol=0.0, max_iters=3), Jacobi(A))
    assert info.status == SolveStatus.CAPPED and int(info.n_iters) == 3


@pytest.mark.parametrize("batch", [1, 3])  # one right-hand side: the kernel's own loop
@pytest.mark.parametrize("batched", [False, True])
def test_implicit_values_gradient_matches_the_torch_path(batched, batch):
    A = _spd(10)
    values = (A.values.expand(batch, -1).clone() if batched else A.values.clone()).requires_grad_(True)
    b = torch.rand(batch, A.shape[0], dtype=torch.float64, requires_grad=True)
    grads = []
    for on in (True, False):
        with native.enabled(on):
            Av = A.with_values(values)
            x, _ = solve(Av, b, CG(rtol=1e-12, max_iters=500), Jacobi(Av))
            grads.append(torch.autograd.grad((x**2).sum(), (values, b)))
    for fused, ref in zip(*grads, strict=True):
        torch.testing.assert_close(fused, ref, rtol=1e-9, atol=1e-12)


def test_unrolled_and_other_methods_keep_the_torch_path(monkeypatch):
    A = _spd(6)
    b = torch.ones(A.shape[0], dtype=torch.float64)

    def refuse(*args, **kwargs):
        raise AssertionError("the fused kernel must not run here")

    monkeypatch.setattr(native, "jacobi_cg", refuse)
    values = A.values.clone().requires_grad_(True)
    Av = A.with_values(values)
    x, _ = solve(Av, b, CG(rtol=0.0, max_iters=5), Jacobi(Av), grad="unrolled")
    x.sum().backward()  # autograd recorded the iterations
    assert values.grad is not None
    solve(A, b, GMRES(rtol=1e-8, max_iters=20), Jacobi(A))


def test_a_missing_or_stale_library_falls_back_and_says_why(monkeypatch, tmp_path):
    """No library (installed without a compiler), or one built from other sources: the
    torch loops run, `status()` says why in one line, and `SolveInfo.loop` records it."""
    A = _spd(6)
    b = torch.ones(A.shape[0], dtype=torch.float64)
    assert solve(A, b, CG(rtol=1e-10), Jacobi(A))[1].loop == "fused"
    assert native.status().startswith("fused native kernels")
    try:
        monkeypatch.setattr(native, "_library_file", lambda: None)
        native._load.cache_clear()
        assert not native.available() and "were not built when fem_prdp was installed" in native.status()
        x, info = solve(A, b, CG(rtol=1e-10), Jacobi(A))
        assert info.status == SolveStatus.CONVERGED and info.loop == "torch"
        monkeypatch.undo()
        monkeypatch.setattr(native, "_source_hash", lambda: "0" * 16)  # sources edited after the build
        native._load.cache_clear()
        assert not native.available() and "built from other sources" in native.status()
    finally:
        monkeypatch.undo()
        native._load.cache_clear()
    assert native.available()


def test_the_environment_switch_turns_the_kernels_off():
    code = "from fem_prdp.linalg import native; print(native.available()); print(native.status())"
    env = {**os.environ, "FEM_PRDP_NATIVE": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["False", "torch loops: the fused kernels are switched off (FEM_PRDP_NATIVE=0)"]


def test_no_compiler_is_needed_at_run_time(monkeypatch):
    """The library is the installed one: loading it runs no compiler."""
    import subprocess as sp

    def no_compiler(*args, **kwargs):
        raise AssertionError(f"a process was started: {args}")

    monkeypatch.setattr(sp, "run", no_compiler)
    monkeypatch.setattr(sp, "Popen", no_compiler)
    native._load.cache_clear()
    try:
        assert native.available()
    finally:
        native._load.cache_clear()


def test_strided_inputs_and_thread_counts():
    A = _spd(10)
    n = A.shape[0]
    wide = torch.rand(3, 2 * n, dtype=torch.float64)
    b = wide[:, ::2]  # not contiguous
    x0 = torch.rand(n, dtype=torch.float64).expand(3, n)  # stride 0 over the batch
    x0_before = x0.clone()
    (xf, _), (xr, _) = _both(A, b, CG(rtol=0.0, max_iters=12), Jacobi(A), x0)
    torch.testing.assert_close(xf, xr, rtol=1e-11, atol=1e-11)
    assert torch.equal(x0, x0_before)  # the start is never written to
    threads = torch.get_num_threads()
    try:
        results = []
        for t in (1, 3):
            torch.set_num_threads(t)
            results.append(solve(A, b, CG(rtol=0.0, max_iters=12), Jacobi(A), x0)[0])
    finally:
        torch.set_num_threads(threads)
    torch.testing.assert_close(results[0], results[1], rtol=1e-11, atol=1e-11)
    torch.testing.assert_close(results[0], xr, rtol=1e-11, atol=1e-11)


def test_batches_beyond_one_chunk_equal_one_batched_solve():
    A = _spd(6)
    b = torch.rand(300, A.shape[0], dtype=torch.float64)
    b[260:] = 0.0  # the second chunk stops at once; the first runs on
    (x, info), (xr, ref) = _both(A, b, CG(rtol=1e-10, max_iters=200), Jacobi(A))
    torch.testing.assert_close(x, xr, rtol=1e-10, atol=1e-12)
    assert info.statuses == ref.statuses and torch.equal(info.n_iters, ref.n_iters)
    assert info.residual_history.shape == ref.residual_history.shape
    torch.testing.assert_close(info.residual_history, ref.residual_history, rtol=1e-8, atol=1e-12)
    values = A.values.expand(300, -1).clone()  # one matrix per sample
    Ab = A.with_values(values)
    (x, info), (xr, ref) = _both(Ab, b, CG(rtol=0.0, max_iters=9), Jacobi(Ab))
    torch.testing.assert_close(x, xr, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("batch", [2, 17])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_multi_vector_products_match_dense(batch, dtype):
    import scipy.sparse as sp

    S = sp.random(40, 25, density=0.2, format="csr", random_state=batch)
    A = SparseMatrix.from_scipy(S, dtype=dtype)
    x = torch.rand(batch, 25, dtype=dtype)
    dense = x @ A.to_dense().T
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-12}
    torch.testing.assert_close(A.matvec(x), dense, **tol)
    out = torch.empty(batch, 40, dtype=dtype)
    native.matmul_rows(A.pattern.crow, A.pattern.col, A.values, A.shape, x, out=out)
    torch.testing.assert_close(out, dense, **tol)
    # enough rows x vectors for the threaded branch, and x with strided rows
    S2 = sp.random(3000, 500, density=0.01, format="csr", random_state=1)
    A2 = SparseMatrix.from_scipy(S2, dtype=dtype)
    x2 = torch.rand(batch, 2, 500, dtype=dtype)[:, 0]
    torch.testing.assert_close(A2.matvec(x2), x2 @ A2.to_dense().T, **tol)


def test_a_capped_cg_run_past_round_off_converges_instead_of_reporting_indefinite():
    """With rtol = 0 and K far beyond convergence the residual reaches round-off, where
    p^T A p of a tiny p can turn non-positive on an SPD matrix: that is convergence, not
    indefiniteness (both loops, the same rule)."""
    A = SparseMatrix.from_scipy(laplacian(12))
    b = torch.rand(3, A.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for (_, info) in _both(A, b, CG(rtol=0.0, max_iters=4 * A.shape[0]), Jacobi(A)):
        assert set(info.statuses) <= {SolveStatus.CONVERGED, SolveStatus.CAPPED}
        assert float(info.relative_residual.max()) < 1e-12
    indefinite = A.with_values(-A.values)
    for (_, info) in _both(indefinite, b, CG(rtol=0.0, max_iters=5), IdentityPreconditioner()):
        assert info.status == SolveStatus.INDEFINITE


def test_the_ctypes_declarations_match_the_c_prototypes():
    """native.py's argument and result types, parsed against the exported C prototypes (a
    mismatch would corrupt memory instead of raising)."""
    import ctypes
    import re

    text = native._SOURCES[1].read_text()
    kinds = {ctypes.c_void_p: "pointer", ctypes.c_int64: "int64_t", ctypes.c_int: "int", ctypes.c_double: "double"}
    for name, argtypes in native._ARGTYPES.items():
        match = re.search(rf"KERNEL (\w+) F\({name}\)\((.*?)\)\s*{{", text, flags=re.S)
        assert match, f"{name} is not exported"
        returns, params = match.group(1), [p.strip() for p in match.group(2).split(",")]
        c_kinds = ["pointer" if "*" in p else p.split()[0] for p in params]
        assert c_kinds == [kinds[a] for a in argtypes], name
        assert (native._RESTYPES[name] is None) == (returns == "void")
        assert returns == "void" or kinds[native._RESTYPES[name]] == returns


def _layout_runs(monkeypatch) -> list[bool]:
    """Record, for every fused CG loop, whether it ran on the symmetric layout."""
    runs, original = [], native._fused_loop

    def spy(method, *args, mid=None, **kwargs):
        runs.append(mid is not None)
        return original(method, *args, mid=mid, **kwargs)

    monkeypatch.setattr(native, "_fused_loop", spy)
    return runs


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_the_symmetric_layout_multiplies_like_the_whole_matrix(threads, monkeypatch):
    from fem_prdp.fem.bench import steady_heat_system

    _, rho, _, system = steady_heat_system(6)  # 3D P1 stiffness: symmetric to round-off, not exactly
    A, _ = system(rho)
    b = torch.rand(2, A.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        layout = A.pattern.symmetric_layout()
        assert layout.parts == threads
        # the diagonal and the lower half (and both mirrors of entries joining two threads' rows)
        assert layout.col.numel() < (0.6 if threads == 1 else 1.0) * A.pattern.nnz
        assert sorted(layout.order.tolist()) == list(range(A.shape[0]))
        runs = _layout_runs(monkeypatch)
        for solver in (CG(rtol=0.0, max_iters=15), CG(rtol=1e-10, max_iters=500)):
            (xf, inf), (xr, inr) = _both(A, b, solver, Jacobi(A))
            torch.testing.assert_close(xf, xr, rtol=1e-10, atol=1e-12)
            torch.testing.assert_close(inf.residual_history, inr.residual_history, rtol=1e-8, atol=1e-14)
            assert torch.equal(inf.n_iters, inr.n_iters) and inf.statuses == inr.statuses
        assert runs == [True, True]
        dense = torch.linalg.solve(A.to_dense(), b.T).T
        torch.testing.assert_close(xf, dense, rtol=1e-8, atol=1e-12)
    finally:
        torch.set_num_threads(old)


def test_a_matrix_not_symmetric_to_round_off_takes_the_whole_matrix(monkeypatch):
    A = _spd(8)
    layout = A.pattern.symmetric_layout()
    off = int(torch.nonzero(A.pattern.row_indices() != A.pattern.col.long())[0, 0])  # some a_ij, i != j
    one_ulp = A.values.clone()
    one_ulp[off] = torch.nextafter(one_ulp[off], torch.tensor(0.0, dtype=torch.float64))
    assert layout.values(one_ulp) is not None
    skewed = A.values.clone()
    skewed[off] *= 1.5  # a_ij != a_ji: CG's product must use A as given
    assert layout.values(skewed) is None
    batch = torch.stack([A.values, skewed])  # one matrix of the batch is enough to refuse
    assert layout.values(batch) is None
    runs = _layout_runs(monkeypatch)
    As = A.with_values(skewed)
    b = torch.rand(A.shape[0], dtype=torch.float64)
    (xf, _), (xr, _) = _both(As, b, CG(rtol=0.0, max_iters=10), Jacobi(As))
    torch.testing.assert_close(xf, xr, rtol=1e-11, atol=1e-12)
    assert runs == [False]


def test_patterns_without_a_symmetric_layout():
    from fem_prdp.linalg import CSRPattern

    square = CSRPattern(torch.tensor([0, 2, 3], dtype=torch.int32), torch.tensor([0, 1, 1], dtype=torch.int32), (2, 2))
    assert square.symmetric_layout() is None  # (0, 1) stored, (1, 0) not
    no_diagonal = CSRPattern(torch.tensor([0, 1, 2], dtype=torch.int32), torch.tensor([1, 0], dtype=torch.int32),
                             (2, 2))
    assert no_diagonal.symmetric_layout() is None


@pytest.mark.parametrize("renumber", [True, False])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_the_symmetric_residual_kernel_is_r_minus_a_x(renumber, dtype):
    from fem_prdp.fem.bench import steady_heat_system
    from fem_prdp.linalg.symmetric import symmetric_layout

    _, rho, _, system = steady_heat_system(6)
    A, _ = system(rho)
    A = A.with_values(A.values.to(dtype))
    gen = torch.Generator().manual_seed(0)
    r, x = (torch.rand(A.shape[0], dtype=torch.float64, generator=gen) for _ in range(2))
    expected = r - A.to_dense().double() @ x
    old = torch.get_num_threads()
    try:
        for parts, threads in ((1, 2), (3, 2), (2, 1), (4, 3)):  # blocks of rows on any number of threads
            layout = symmetric_layout(A.pattern.crow, A.pattern.col, parts, renumber=renumber)
            assert renumber or torch.equal(layout.order, torch.arange(A.shape[0]))
            torch.set_num_threads(threads)
            o = layout.order
            y = native.sym_residual(layout, layout.values(A.values), r[o].to(dtype), x[o].to(dtype))
            torch.testing.assert_close(y.double(), expected[o], rtol=0, atol=(1e-14 if dtype == torch.float64 else 1e-5)
                                       * float(expected.abs().max()))
            strided = torch.stack([x[o], x[o]], dim=1).to(dtype)[:, 0]  # a view with stride 2
            torch.testing.assert_close(native.sym_residual(layout, layout.values(A.values), None, strided),
                                       r[o].to(dtype) - y)
    finally:
        torch.set_num_threads(old)


@pytest.mark.parametrize("parts", [1, 2, 3, 7])
def test_the_own_numbering_layout_kernel_builds_the_numpy_layout(parts, monkeypatch):
    """`native.sym_layout_own` (two passes, no temporaries) against the numpy construction
    of the same `SymmetricLayout` it replaces for renumber=False, array for array; a row
    without its diagonal gives no layout either way."""
    from fem_prdp.fem.bench import steady_heat_system
    from fem_prdp.linalg.symmetric import symmetric_layout

    _, rho, _, system = steady_heat_system(5)
    heat, _ = system(rho)
    grid = SparseMatrix.from_scipy(laplacian(13, 2))
    for A in (heat, grid):
        crow, col = A.pattern.crow, A.pattern.col
        fused = symmetric_layout(crow, col, parts, renumber=False)
        with monkeypatch.context() as m:
            m.setattr(native, "available", lambda: False)
            reference = symmetric_layout(crow, col, parts, renumber=False)
        for name in ("order", "crow", "mid", "col", "src"):
            assert torch.equal(getattr(fused, name), getattr(reference, name)), name
        assert fused.parts == parts and fused.col.dtype == torch.int32
    assert int(grid.pattern.col[0]) == 0  # row 0's first entry is its diagonal: drop it
    keep = torch.ones(grid.pattern.nnz, dtype=torch.bool)
    keep[0] = False
    crow = torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(torch.bincount(
        grid.pattern.row_indices()[keep], minlength=grid.shape[0]), 0)]).to(torch.int32)
    assert symmetric_layout(crow, grid.pattern.col[keep], parts, renumber=False) is None
    assert native.sym_layout_own(crow, grid.pattern.col[keep], parts) is None


def test_cg_products_on_one_vector_go_through_the_symmetric_layout():
    from fem_prdp.fem.bench import steady_heat_system
    from fem_prdp.linalg.solve import _Operator

    _, rho, _, system = steady_heat_system(6)
    A, _ = system(rho)
    v = torch.rand(1, A.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    skewed = A.values.clone()
    skewed[int(torch.nonzero((A.pattern.row_indices() != A.pattern.col.long()) & (A.values != 0))[0, 0])] *= 1.5
    for values, through_layout in ((A.values, True), (skewed, False)):  # not symmetric: the whole matrix
        op = _Operator(A.pattern, values)
        out = torch.empty_like(v)
        op.into(v, out)
        expected = v @ A.with_values(values).to_dense().T
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-14 * float(expected.abs().max()))
        assert (op.halves is not None) == through_layout
        two = torch.cat([v, 2 * v])  # two vectors: one pass over the whole matrix for both
        torch.testing.assert_close(op.into(two, torch.empty_like(two)), two @ A.with_values(values).to_dense().T)
