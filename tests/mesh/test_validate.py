"""Every validation error is raised on a crafted bad file, with ids; repairs are reported."""

import meshio
import numpy as np
import pytest

import fem_prdp.mesh as M

PTS = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], dtype=float)
TRIS = np.array([[0, 1, 2], [1, 3, 2]])
EDGES = np.array([[0, 1], [1, 3], [3, 2], [2, 0]])


def _write(
    tmp_path,
    points=PTS,
    tris=TRIS,
    edges=EDGES,
    tags=(1, 1, 1, 1),
    names=True,
    extra_blocks=(),
    name="bad.msh",
):
    cells = [("line", edges), ("triangle", tris), *extra_blocks]
    phys = [np.asarray(tags), np.full(len(tris), 7)] + [np.full(len(b[1]), 9) for b in extra_blocks]
    field = {"wall": np.array([1, 1]), "domain": np.array([7, 2])} if names else {}
    m = meshio.Mesh(
        points, cells, cell_data={"gmsh:physical": phys, "gmsh:geometrical": phys}, field_data=field
    )
    path = tmp_path / name
    meshio.write(path, m, file_format="gmsh22", binary=True)
    return path


def test_good_crafted_file_loads(tmp_path):
    mesh = M.read_mesh(_write(tmp_path))
    assert mesh.boundaries == {"wall": 1} and mesh.subdomains == {"domain": 7}


def test_inverted_cell_is_reported_with_its_id_and_repaired_on_request(tmp_path):
    path = _write(tmp_path, tris=np.array([[0, 1, 2], [1, 2, 3]]))
    with pytest.raises(M.MeshError, match=r"(?s)bad\.msh.*inverted.*cells 1\b.*repair=True"):
        M.read_mesh(path)
    with pytest.warns(UserWarning, match="(?s)reoriented 1 inverted cells"):
        mesh = M.read_mesh(path, repair=True)
    assert (mesh.cell_volumes(signed=True) > 0).all()


def test_degenerate_cell_is_reported(tmp_path):
    pts = np.vstack([PTS, [[2, 0, 0]]])
    tris = np.array([[0, 1, 2], [1, 3, 2], [0, 1, 4]])  # (0, 1, 4) is collinear
    with pytest.raises(M.MeshError, match=r"(?s)degenerate.*cells 2"):
        M.read_mesh(_write(tmp_path, points=pts, tris=tris))


def test_duplicate_points_are_reported(tmp_path):
    pts = np.vstack([PTS, [[1, 1, 0]]])
    tris = np.array([[0, 1, 2], [1, 4, 2]])
    with pytest.raises(M.MeshError, match=r"(?s)duplicate points.*ids 3, 4"):
        M.read_mesh(_write(tmp_path, points=pts, tris=tris))


def test_unreferenced_points_are_reported_and_dropped_on_request(tmp_path):
    pts = np.vstack([PTS, [[5, 5, 0]]])
    path = _write(tmp_path, points=pts)
    with pytest.raises(M.MeshError, match=r"(?s)unreferenced points 4"):
        M.read_mesh(path)
    with pytest.warns(UserWarning, match="(?s)dropped 1 unreferenced points"):
        assert M.read_mesh(path, repair=True).n_nodes == 4


def test_mixed_dimensions_surface_in_3d_is_reported(tmp_path):
    pts = PTS.copy()
    pts[3, 2] = 0.5
    with pytest.raises(M.MeshError, match="(?s)mixed dimensions.*z = 0"):
        M.read_mesh(_write(tmp_path, points=pts))


def test_mixed_dimensions_stray_facet_is_reported(tmp_path):
    edges = np.vstack([EDGES, [[0, 3]]])  # the diagonal (0, 3) is not an edge of any triangle
    with pytest.raises(M.MeshError, match=r"(?s)mixed dimensions.*elements 4"):
        M.read_mesh(_write(tmp_path, edges=edges, tags=(1, 1, 1, 1, 1)))


def test_missing_physical_groups_are_reported(tmp_path):
    with pytest.raises(M.MeshError, match="(?s)no boundary physical groups.*Physical Curve"):
        M.read_mesh(_write(tmp_path, names=False, tags=(0, 0, 0, 0)))


def test_quads_are_rejected_with_a_fix(tmp_path):
    path = tmp_path / "quad.vtu"
    meshio.write(path, meshio.Mesh(PTS, [("quad", np.array([[0, 1, 3, 2]]))]))
    with pytest.raises(M.MeshError, match="(?s)unsupported cell types.*quad.*remesh"):
        M.read_mesh(path)


def test_a_file_that_is_not_a_mesh_is_reported(tmp_path):
    path = tmp_path / "notes.msh"
    path.write_text("this is not a mesh\n")
    with pytest.raises(M.MeshError, match=r"(?s)notes\.msh is not a readable \.msh mesh file"):
        M.read_mesh(path)
    with pytest.raises(M.MeshError, match="(?s)no such file"):
        M.read_mesh(tmp_path / "missing.msh")


def test_all_problems_are_listed_at_once(tmp_path):
    pts = np.vstack([PTS, [[5, 5, 0]]])
    path = _write(tmp_path, points=pts, tris=np.array([[0, 1, 2], [1, 2, 3]]))
    with pytest.raises(M.MeshError) as err:
        M.read_mesh(path)
    assert "inverted" in str(err.value) and "unreferenced" in str(err.value)
