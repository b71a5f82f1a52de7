"""Uniform special meshes: finite-difference numbering and structure."""

import pytest
import torch

import fem_prdp.mesh as M


def test_uniform_interval_is_the_fd_grid():
    mesh = M.uniform_interval(10)
    assert torch.allclose(mesh.points[:, 0], torch.linspace(0, 1, 11, dtype=torch.float64))
    assert mesh.boundary_nodes("left").tolist() == [0]
    assert mesh.boundary_nodes("right").tolist() == [10]


@pytest.mark.parametrize("diagonal", M.uniform.DIAGONALS)
def test_uniform_rectangle_numbering_is_lexicographic(diagonal):
    nx, ny = 4, 3
    mesh = M.uniform_rectangle(nx, ny, width=2.0, height=1.5, diagonal=diagonal)
    grid = mesh.points[: (nx + 1) * (ny + 1)].reshape(ny + 1, nx + 1, 2)
    assert torch.allclose(grid[0, :, 0], torch.linspace(0, 2.0, nx + 1, dtype=torch.float64))
    assert torch.allclose(grid[:, 0, 1], torch.linspace(0, 1.5, ny + 1, dtype=torch.float64))
    cells_per_square = 4 if diagonal == "crossed" else 2
    assert mesh.n_cells == cells_per_square * nx * ny
    assert mesh.measure() == pytest.approx(3.0)
    assert mesh.boundary_nodes("bottom").tolist() == list(range(nx + 1))
    assert mesh.boundary_nodes("left").tolist() == [j * (nx + 1) for j in range(ny + 1)]
    assert mesh.facet_count("top") == nx and mesh.facet_count("right") == ny


def test_diagonal_directions_differ():
    right = M.uniform_rectangle(1, diagonal="right").cells
    left = M.uniform_rectangle(1, diagonal="left").cells
    # "right" shares the edge (0, 3) between its triangles; "left" shares (1, 2).
    assert {0, 3} <= set(right[0].tolist()) & set(right[1].tolist())
    assert {1, 2} <= set(left[0].tolist()) & set(left[1].tolist())


def test_uniform_box_is_conforming_and_tagged():
    mesh = M.uniform_box(3, 2, 2, size=(3.0, 2.0, 1.0))
    assert mesh.n_cells == 6 * 12
    assert mesh.measure() == pytest.approx(6.0)
    assert M.find_problems(mesh) == []
    # Conforming: every interior face is shared by exactly two tetrahedra.
    from fem_prdp.mesh.mesh import all_facets

    _, counts = torch.unique(all_facets(mesh.cells), dim=0, return_counts=True)
    assert set(counts.tolist()) <= {1, 2}
    assert int((counts == 1).sum()) == mesh.n_facets == 2 * 2 * (3 * 2 + 3 * 2 + 2 * 2)
    assert float(mesh.facet_measures(mesh.boundary_facets("left")).sum()) == pytest.approx(2.0)


def test_bad_counts_are_errors():
    with pytest.raises(M.MeshError, match="positive integer"):
        M.uniform_rectangle(0)
    with pytest.raises(M.MeshError, match="diagonal must be one of"):
        M.uniform_rectangle(2, diagonal="up")
