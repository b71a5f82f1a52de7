import numpy as np
import pytest
import scipy.sparse as sp
import torch

from fem_prdp.linalg import CSRPattern, SparseMatrix

from .cases import MATRICES, as_sparse


def test_scipy_round_trip_and_dense_agree():
    A = as_sparse("fem_advection_diffusion")
    S = MATRICES["fem_advection_diffusion"][0]
    assert A.pattern.crow.dtype == torch.int32 and A.pattern.col.dtype == torch.int32
    assert np.allclose(A.to_dense().numpy(), S.toarray())
    assert (A.to_scipy() != S).nnz == 0


def test_matvec_transpose_and_diagonal_match_dense():
    A = as_sparse("random_nonsymmetric")
    D = A.to_dense()
    x = torch.randn(3, A.shape[0], dtype=torch.float64)
    assert torch.allclose(A.matvec(x), x @ D.T)
    assert torch.allclose(A.rmatvec(x), x @ D)
    assert torch.allclose(A.T.to_dense(), D.T)
    assert torch.allclose(A.diagonal(), torch.diagonal(D))
    assert torch.allclose(A.matvec(x[0]), D @ x[0])


def test_batched_matrices_on_one_pattern():
    A = as_sparse("fem_stiffness")
    scales = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    Ab = A.with_values(scales[:, None] * A.values)
    x = torch.randn(3, A.shape[0], dtype=torch.float64)
    y = Ab.matvec(x)
    for k in range(3):
        assert torch.allclose(y[k], scales[k] * A.matvec(x[k]))
    assert Ab.to_dense().shape == (3, *A.shape)
    with pytest.raises(ValueError, match="batch"):
        Ab.matvec(x[:2])


def test_block_views_are_sub_matrices():
    S = as_sparse("saddle_point")
    n_u = 25  # interior nodes of the 6x6 grid
    D = S.to_dense()
    assert torch.allclose(S.block(slice(0, n_u), slice(0, n_u)).to_dense(), D[:n_u, :n_u])
    assert torch.allclose(S.block(slice(n_u, None), slice(0, n_u)).to_dense(), D[n_u:, :n_u])


def test_from_coo_merges_duplicates_and_returns_scatter_slots():
    rows, cols = torch.tensor([0, 1, 0, 1]), torch.tensor([0, 1, 0, 0])
    pattern, slot = CSRPattern.from_coo(rows, cols, (2, 2))
    ones = torch.ones(4, dtype=torch.float64)
    vals = torch.zeros(pattern.nnz, dtype=torch.float64).index_add_(0, slot, ones)
    A = SparseMatrix(pattern, vals)
    assert A.to_dense().tolist() == [[2.0, 0.0], [1.0, 1.0]]


def test_spmv_gradients_pass_gradcheck():
    A = as_sparse("random_nonsymmetric")
    vals = A.values.clone().requires_grad_(True)
    x = torch.randn(2, A.shape[0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v, x: A.with_values(v).matvec(x), (vals, x))
    vb = torch.stack([A.values, 2 * A.values]).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v, x: A.with_values(v).matvec(x), (vb, x))


def test_bad_shapes_are_clear_errors():
    A = as_sparse("random_spd")
    with pytest.raises(ValueError, match="values must have shape"):
        SparseMatrix(A.pattern, torch.zeros(3))
    with pytest.raises(ValueError, match="expected n_cols"):
        A.matvec(torch.zeros(A.shape[0] + 1, dtype=torch.float64))


def test_to_device_and_dtype():
    A = SparseMatrix.from_scipy(sp.eye(4))
    B = A.to(dtype=torch.float32)
    assert B.dtype == torch.float32 and B.pattern is A.pattern
