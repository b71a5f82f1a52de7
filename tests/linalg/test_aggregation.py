"""The smoothed-aggregation set-up (`linalg.aggregation`) against pyamg's: its products and
prolongator kernels against scipy, the finest level equal to pyamg's to round-off, and CG
with the whole hierarchy needing as many iterations as with pyamg's."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from fem_prdp.linalg import AMG, CG, SparseMatrix, native, solve
from fem_prdp.linalg.aggregation import _csr, _pyamg, smoothed_aggregation
from fem_prdp.linalg.stencils import jumping_diffusion

pytestmark = pytest.mark.skipif(not native.available(), reason=native.status())


def _scipy(parts, shape):
    crow, col, val = parts
    return sp.csr_matrix((val.numpy(), col.numpy(), crow.numpy()), shape=shape)


def test_product_kernel_is_scipys_product_with_sorted_rows():
    rng = np.random.default_rng(0)
    keep = np.ones(300)
    keep[7] = 0  # an empty row
    A = (sp.diags(keep) @ sp.random(300, 200, density=0.05, format="csr", random_state=rng)).tocsr()
    A.eliminate_zeros()
    B = sp.random(200, 150, density=0.05, format="csr", random_state=rng)
    C = _scipy(native.csr_spgemm(_csr(A), _csr(B), 150), (300, 150))
    assert C.has_sorted_indices and all(np.all(np.diff(C.indices[C.indptr[i]:C.indptr[i + 1]]) > 0) for i in range(300))
    np.testing.assert_allclose(C.toarray(), (A @ B).toarray(), rtol=1e-14, atol=1e-15)
    # each thread builds its block of rows into its own buffers (C has 5x A's entries: they
    # grow), copied into place after: the same matrix from any number of threads, also with
    # more threads than rows
    assert C.nnz > 4 * A.nnz
    threads = torch.get_num_threads()
    try:
        for n in (1, 3, 5):
            torch.set_num_threads(n)
            again = _scipy(native.csr_spgemm(_csr(A), _csr(B), 150), (300, 150))
            assert np.array_equal(again.indptr, C.indptr) and np.array_equal(again.indices, C.indices)
            np.testing.assert_array_equal(again.data, C.data)
            few = _scipy(native.csr_spgemm(_csr(A[:3]), _csr(B), 150), (3, 150))
            np.testing.assert_allclose(few.toarray(), (A[:3] @ B).toarray(), rtol=1e-14, atol=1e-15)
    finally:
        torch.set_num_threads(threads)


def test_prolongator_kernel_is_the_smoothed_tentative_prolongator():
    A = jumping_diffusion(12, dim=2).tocsr()
    n = A.shape[0]
    rng = np.random.default_rng(1)
    agg = rng.integers(-1, 9, n).astype(np.int32)  # -1: in no aggregate
    t, w = rng.random(n), rng.random(n)
    member = agg >= 0
    T = sp.csr_matrix((t[member], (np.nonzero(member)[0], agg[member])), shape=(n, 9))
    expected = (T - sp.diags(w) @ A @ T).toarray()
    P = _scipy(native.sa_prolongator(_csr(A), torch.from_numpy(agg), torch.from_numpy(t), torch.from_numpy(w), 9),
               (n, 9))
    assert P.has_sorted_indices
    np.testing.assert_allclose(P.toarray(), expected, rtol=1e-13, atol=1e-15)
    # a number instead: the row-wise Gershgorin weights omega / sum_j |a_ij|, a zero row 0
    A = (sp.diags((np.arange(n) != 5).astype(float)) @ A).tocsr()  # row 5 empty
    A.eliminate_zeros()
    sums = np.asarray(abs(A).sum(axis=1)).ravel()
    w = np.divide(4.0 / 3.0, sums, out=np.zeros(n), where=sums != 0)
    expected = (T - sp.diags(w) @ A @ T).toarray()
    P = _scipy(native.sa_prolongator(_csr(A), torch.from_numpy(agg), torch.from_numpy(t), 4.0 / 3.0, 9), (n, 9))
    np.testing.assert_allclose(P.toarray(), expected, rtol=1e-13, atol=1e-15)


def test_hierarchy_matches_pyamgs_and_preconditions_as_well():
    from fem_prdp.fem.bench import steady_heat_system

    _, rho, weights, system = steady_heat_system(16)  # 3D P1 with eliminated Dirichlet rows
    A, b = system(rho)
    S = A.to_scipy().tocsr()
    ours, reference = smoothed_aggregation(S, 50), _pyamg(S, 50)
    assert [lvl.A.shape for lvl in ours] == [lvl.A.shape for lvl in reference]
    # the finest level's prolongator and the Galerkin product below it: pyamg's to round-off
    for mine, theirs in ((ours[0].P, reference[0].P), (ours[1].A, reference[1].A), (ours[0].R, reference[0].R)):
        assert abs(mine - theirs).max() <= 1e-13 * abs(theirs).max()
    # coarser levels break aggregation ties by column order: the same quality, not the same bits
    iterations = {}
    for name, enabled in (("ours", True), ("pyamg", False)):
        with native.enabled(enabled):  # without the kernels the hierarchy is pyamg's
            P = AMG(A, max_coarse=50)
        iterations[name] = [int(solve(A, rhs, CG(rtol=1e-10, max_iters=200), P)[1].n_iters[0]) for rhs in (b, weights)]
    assert iterations["ours"] == iterations["pyamg"]
    # a 2D jumping-coefficient problem, four levels
    S = jumping_diffusion(64, dim=2).tocsr()
    M = SparseMatrix.from_scipy(S, dtype=torch.float64)
    rhs = torch.from_numpy(np.random.default_rng(2).random(S.shape[0]))
    counts = []
    for enabled in (True, False):
        with native.enabled(enabled):
            P = AMG(M, max_coarse=20)
        counts.append((P.n_levels, int(solve(M, rhs, CG(rtol=1e-10, max_iters=200), P)[1].n_iters[0])))
    assert counts[0][0] >= 4 and counts[0] == counts[1]
