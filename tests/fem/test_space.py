"""Point evaluation: exact for polynomials the space contains, the fallback search, and
points outside the mesh."""

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

import fem_prdp.mesh as M
from fem_prdp.fem import FunctionSpace


def _quadratic(x):
    return 1 + x[..., 0] - 2 * x[..., 1] ** 2 + 3 * x[..., 0] * x[..., -1]


def _inside_points(mesh, n, seed=0):
    """Random points inside random cells (random barycentric coordinates)."""
    g = torch.Generator().manual_seed(seed)
    cells = torch.randint(0, mesh.n_cells, (n,), generator=g)
    w = -torch.log(torch.rand(n, mesh.dim + 1, generator=g, dtype=torch.float64))
    w = w / w.sum(1, keepdim=True)
    return torch.einsum("pv,pvd->pd", w, mesh.points[mesh.cells[cells]])


@pytest.mark.parametrize("mesh", [M.disk(h=0.2), M.box(h=0.3)], ids=["disk", "box"])
def test_p2_evaluation_is_exact_for_quadratics(mesh):
    V = FunctionSpace(mesh, 2)
    pts = _inside_points(mesh, 500)
    assert torch.allclose(V.evaluate(V.interpolate(_quadratic), pts), _quadratic(pts), atol=1e-12)
    W = FunctionSpace(mesh, 2, shape=(mesh.dim,))
    both = W.interpolate(lambda x: torch.stack([_quadratic(x)] + [-_quadratic(x)] * (mesh.dim - 1), -1))
    assert torch.allclose(W.evaluate(both, pts)[:, 0], _quadratic(pts), atol=1e-12)


def test_points_missed_by_the_nearest_centroids_are_found_by_the_full_search():
    mesh = M.rectangle(h=0.1)
    V = FunctionSpace(mesh, 1)
    u = V.interpolate(_quadratic)
    pts = _inside_points(mesh, 200, seed=1)
    expected = V.evaluate(u, pts)
    centroids = mesh.points[mesh.cells].mean(1).numpy()
    V._centroid_tree = cKDTree(np.random.default_rng(0).permutation(centroids))  # wrong candidates
    assert torch.allclose(V.evaluate(u, pts), expected, atol=1e-13)


def test_points_outside_the_mesh_raise():
    V = FunctionSpace(M.rectangle(h=0.2), 1)
    with pytest.raises(ValueError, match="outside the mesh"):
        V.evaluate(V.interpolate(_quadratic), torch.tensor([[0.5, 0.5], [1.5, 0.5]], dtype=torch.float64))


def test_transfer_between_meshes_of_a_curved_domain_extrapolates_at_the_boundary():
    """Boundary dofs of one disk mesh lie slightly outside another disk mesh's polygon: they
    raise by default and are taken from the nearest cell with outside='extrapolate', which
    is exact for a field the space contains (a quadratic, P2)."""
    fine, coarse = M.disk(h=0.1), M.disk(h=0.25)
    src = FunctionSpace(fine, 2, shape=(2,))
    dst = FunctionSpace(coarse, 2, shape=(2,))

    def field(x):
        return torch.stack([_quadratic(x), 2 * _quadratic(x) - x[:, 0]], -1)

    u = torch.stack([src.interpolate(field), 3 * src.interpolate(field)])  # a batch of two
    with pytest.raises(ValueError, match="outside='extrapolate'"):
        dst.interpolate_from(src, u)
    moved = dst.interpolate_from(src, u, outside="extrapolate")
    assert moved.shape == (2, dst.n_dofs)
    assert torch.allclose(moved[0], dst.interpolate(field), atol=1e-11)
    assert torch.allclose(moved[1], 3 * dst.interpolate(field), atol=1e-11)
    with pytest.raises(ValueError, match="value shapes differ"):
        dst.interpolate_from(FunctionSpace(fine, 2), u[:, : src.n_scalar_dofs])
