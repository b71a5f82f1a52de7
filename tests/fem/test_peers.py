"""torch-fem's solver module for `bench peers` where its plotting (pyvista, VTK) is not
installed, as on the GPU machine (scripts/gpu_bundle.sh)."""

import sys

import pytest
import torch

from fem_prdp._extras import MissingExtraError
from fem_prdp.fem.bench import steady_heat_system
from fem_prdp.fem.peers import _torch_fem, torch_fem_sparse

pytest.importorskip("torchfem")


def _forget_torch_fem(monkeypatch):
    """Take torch-fem's modules out of sys.modules for this test (put back after it)."""
    for name in [m for m in sys.modules if m == "torchfem" or m.startswith("torchfem.")] + ["torchfem.sparse"]:
        monkeypatch.setitem(sys.modules, name, None)  # records what was there, so it is restored
        monkeypatch.delitem(sys.modules, name)


def test_torch_fem_solver_loads_without_pyvista(monkeypatch):
    _forget_torch_fem(monkeypatch)
    for name in ("pyvista", "vtk", "vtkmodules"):
        monkeypatch.setitem(sys.modules, name, None)  # an import of these now fails
    sparse = torch_fem_sparse()
    assert "torchfem" not in sys.modules  # its __init__ (which imports pyvista) did not run
    assert torch_fem_sparse() is sparse
    _, rho, weights, system = steady_heat_system(3)
    A, b = system(rho)
    _, _, x, grad_values, grad_rhs, _, _ = _torch_fem(A, b, weights, "jacobi")
    dense = A.to_dense()
    lam = torch.linalg.solve(dense.T, weights)
    torch.testing.assert_close(x, torch.linalg.solve(dense, b), rtol=1e-8, atol=0)
    torch.testing.assert_close(grad_rhs, lam, rtol=1e-8, atol=0)
    rows = A.pattern.row_indices()
    torch.testing.assert_close(grad_values, -lam[rows] * x[A.pattern.col.long()], rtol=1e-7, atol=1e-14)


def test_torch_fem_not_installed_names_the_extra(monkeypatch):
    _forget_torch_fem(monkeypatch)
    monkeypatch.setitem(sys.modules, "torchfem", None)  # as if it were not installed
    with pytest.raises(MissingExtraError, match=r'pip install "fem_prdp\[bench\]" \(or pip install torch-fem\)'):
        torch_fem_sparse()


def test_rounds_grow_where_solves_are_short():
    from fem_prdp.fem.peers import _rounds

    assert [_rounds(n, 3) for n in (512_000, 205_379, 199_999, 50_653, 12_167, 2_197)] == [3, 3, 6, 12, 15, 15]
    assert _rounds(100_000, 1) == 2
