"""Round trips through every format keep points, cells, tags, names and fields."""

import warnings

import pytest
import torch

import fem_prdp.mesh as M

FORMATS = [(".msh", "4.1"), (".msh", "2.2"), (".vtu", None), (".xdmf", None)]


def _sorted_rows(t):
    t = torch.sort(t, dim=1).values
    return t[torch.argsort(t[:, 0] * 10**6 + t[:, -1], stable=True)]


@pytest.mark.parametrize("kind", ["interval", "channel-cylinder", "box", "uniform-rectangle"])
@pytest.mark.parametrize("suffix,version", FORMATS)
def test_round_trip_keeps_points_cells_and_tags(tmp_path, kind, suffix, version):
    mesh = M.generate(kind, {"interval": 0.2, "channel-cylinder": 0.1, "box": 0.4}.get(kind, 0.25))
    if suffix == ".xdmf" and mesh.dim == 1:
        with pytest.raises(M.MeshError, match="1D meshes cannot go to .xdmf"):
            M.write_mesh(mesh, tmp_path / "m.xdmf")
        return
    u = torch.sin(mesh.points.sum(1))
    kappa = torch.arange(mesh.n_cells, dtype=torch.float64)
    mesh = mesh.with_data(point_data={"u": u})
    if version != "2.2":
        mesh = mesh.with_data(cell_data={"kappa": kappa})
    path = M.write_mesh(mesh, tmp_path / f"m{suffix}", msh_version=version or "4.1")
    back = M.read_mesh(path)
    assert torch.allclose(back.points, mesh.points, rtol=0, atol=1e-12)
    assert torch.equal(back.cells, mesh.cells)
    assert back.boundaries == mesh.boundaries
    for name in mesh.boundaries:
        assert torch.equal(_sorted_rows(back.boundary_facets(name)), _sorted_rows(mesh.boundary_facets(name)))
    assert torch.allclose(back.point_data["u"].reshape(-1).double(), u, atol=1e-12)
    if version != "2.2":
        assert torch.allclose(back.cell_data["kappa"].reshape(-1).double(), kappa)


def test_cell_fields_in_msh22_are_refused_with_alternatives(tmp_path):
    mesh = M.uniform_interval(3).with_data(cell_data={"k": torch.ones(3)})
    with pytest.raises(M.MeshError, match="msh_version='4.1', .vtu or .xdmf"):
        M.write_mesh(mesh, tmp_path / "m.msh", msh_version="2.2")


def test_msh_written_is_readable_by_gmsh_with_physical_names(tmp_path):
    from fem_prdp.mesh.gmsh_session import gmsh_session

    mesh = M.cavity(h=0.25)
    path = M.write_mesh(mesh, tmp_path / "cavity.msh", msh_version="2.2")
    with gmsh_session() as gmsh:
        gmsh.open(str(path))
        names = {gmsh.model.getPhysicalName(d, t) for d, t in gmsh.model.getPhysicalGroups(1)}
        assert names == {"lid", "walls"}
        assert len(gmsh.model.mesh.getNodes()[0]) == mesh.n_nodes


def test_shipped_example_meshes_load():
    from pathlib import Path

    files = sorted(Path(__file__).resolve().parents[2].joinpath("meshes").glob("*.msh"))
    assert files, "meshes/ should ship example .msh files"
    for f in files:
        mesh = M.read_mesh(f)
        assert mesh.n_cells > 0 and mesh.boundaries


def test_pyvista_conversion_carries_fields():
    mesh = M.uniform_rectangle(3)
    grid = mesh.to_pyvista(point_data={"u": mesh.points[:, 0]})
    assert grid.n_points == mesh.n_nodes and grid.n_cells == mesh.n_cells
    assert grid.point_data["u"].shape == (mesh.n_nodes,)
    assert grid.volume == pytest.approx(0.0) and abs(grid.area - 1.0) < 1e-12


def test_off_screen_plot_writes_png(tmp_path):
    from fem_prdp.viz import plot_mesh

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = plot_mesh(M.uniform_box(2), tmp_path / "box.png", field=torch.arange(27.0))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 1000


def test_write_is_atomic_and_rejects_unknown_suffix(tmp_path):
    mesh = M.uniform_interval(4)
    with pytest.raises(M.MeshError, match="unsupported file type .stl"):
        M.write_mesh(mesh, tmp_path / "m.stl")
    M.write_mesh(mesh, tmp_path / "m.vtu")
    assert [p.name for p in tmp_path.iterdir()] == ["m.vtu"]  # no temp files left behind


def test_shipped_geo_source_meshes_with_gmsh_and_loads(tmp_path):
    from pathlib import Path

    from fem_prdp.mesh.gmsh_session import gmsh_session

    geo = Path(__file__).resolve().parents[2] / "meshes" / "channel_cylinder.geo"
    with gmsh_session() as gmsh:
        gmsh.open(str(geo))
        gmsh.model.mesh.generate(2)
        gmsh.write(str(tmp_path / "c.msh"))
    mesh = M.read_mesh(tmp_path / "c.msh", repair=True)
    assert set(mesh.boundaries) == {"inlet", "outlet", "walls", "cylinder"}
    assert mesh.measure() == pytest.approx(2.2 * 0.41 - 3.14159265 * 0.05**2, rel=2e-3)
