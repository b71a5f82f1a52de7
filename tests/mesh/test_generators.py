"""Every gmsh generator and uniform mesh: names, facet counts, exact measure, orientation."""

import math

import pytest
import torch

import fem_prdp.mesh as M

R = M.DFG_2D["radius"]
CASES = {
    # kind: (h, boundary names, exact measure, relative tolerance of the polygonal measure)
    "interval": (0.1, {"left", "right"}, 1.0, 1e-12),
    "rectangle": (0.1, {"left", "right", "bottom", "top"}, 1.0, 1e-12),
    "box": (0.25, {"left", "right", "front", "back", "bottom", "top"}, 1.0, 1e-12),
    "disk": (0.1, {"boundary"}, math.pi, 5e-3),
    "l-shape": (0.2, {"reentrant", "outer"}, 3.0, 1e-12),
    "cavity": (0.1, {"lid", "walls"}, 1.0, 1e-12),
    "channel-cylinder": (0.05, {"inlet", "outlet", "walls", "cylinder"}, 2.2 * 0.41 - math.pi * R**2, 1e-3),
    "channel-cylinder-3d": (
        0.15,
        {"inlet", "outlet", "walls", "cylinder"},
        2.5 * 0.41**2 - math.pi * R**2 * 0.41,
        2e-3,
    ),
    "uniform-interval": (0.1, {"left", "right"}, 1.0, 1e-12),
    "uniform-rectangle": (0.25, {"left", "right", "bottom", "top"}, 1.0, 1e-12),
    "uniform-rectangle-left": (0.25, {"left", "right", "bottom", "top"}, 1.0, 1e-12),
    "uniform-rectangle-crossed": (0.25, {"left", "right", "bottom", "top"}, 1.0, 1e-12),
    "uniform-box": (0.25, {"left", "right", "front", "back", "bottom", "top"}, 1.0, 1e-12),
}


def test_every_registered_generator_is_tested():
    assert set(CASES) == set(M.GENERATORS)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_generator_has_named_boundaries_exact_measure_and_positive_cells(kind):
    h, names, exact, rtol = CASES[kind]
    mesh = M.generate(kind, h)
    assert set(mesh.boundaries) == names
    assert mesh.measure() == pytest.approx(exact, rel=rtol)
    assert (mesh.cell_volumes(signed=True) > 0).all()
    assert M.find_problems(mesh) == []
    # Facet counts are consistent: tagged facets are exactly the exterior facets, each once.
    ext = mesh.exterior_facets()
    tagged = torch.unique(torch.sort(mesh.facets, dim=1).values, dim=0)
    assert tagged.shape == ext.shape and torch.equal(tagged, ext)
    assert sum(mesh.facet_count(n) for n in names) == mesh.n_facets
    # The boundary measure matches the sum of its facets (perimeter / surface checks below).
    assert all(mesh.facet_count(n) > 0 for n in names)


def test_boundary_lengths_match_geometry():
    mesh = M.channel_cylinder(h=0.05)
    L, H = M.DFG_2D["length"], M.DFG_2D["height"]
    lengths = {n: float(mesh.facet_measures(mesh.boundary_facets(n)).sum()) for n in mesh.boundaries}
    assert lengths["inlet"] == pytest.approx(H, rel=1e-12)
    assert lengths["outlet"] == pytest.approx(H, rel=1e-12)
    assert lengths["walls"] == pytest.approx(2 * L, rel=1e-12)
    assert lengths["cylinder"] == pytest.approx(2 * math.pi * R, rel=5e-3)
    cyl = mesh.points[mesh.boundary_nodes("cylinder")]
    assert torch.allclose(
        (cyl - torch.tensor(M.DFG_2D["center"], dtype=cyl.dtype)).norm(dim=1),
        torch.full((len(cyl),), R, dtype=cyl.dtype),
        atol=1e-9,
    )


def test_box_sides_lie_on_their_planes():
    mesh = M.box(h=0.3)
    for name, (axis, value) in {
        "left": (0, 0),
        "right": (0, 1),
        "front": (1, 0),
        "back": (1, 1),
        "bottom": (2, 0),
        "top": (2, 1),
    }.items():
        pts = mesh.points[mesh.boundary_nodes(name)]
        assert torch.allclose(pts[:, axis], torch.full_like(pts[:, axis], float(value)))
        assert float(mesh.facet_measures(mesh.boundary_facets(name)).sum()) == pytest.approx(1.0)


def test_mesh_size_controls_refinement():
    coarse, fine = M.rectangle(h=0.1), M.rectangle(h=0.05)
    assert fine.n_cells > 3 * coarse.n_cells
    assert fine.facet_count("left") == 20
    assert M.mesh_quality(fine).h_max <= 0.05 * 1.5


def test_bad_mesh_size_is_a_clear_error():
    with pytest.raises(M.MeshError, match="positive"):
        M.rectangle(h=-1.0)
    with pytest.raises(M.MeshError, match="known kinds: interval"):
        M.generate("donut")


def test_unknown_boundary_lists_known_names():
    mesh = M.cavity(h=0.2)
    with pytest.raises(M.MeshError, match="unknown boundary 'inlet'.*lid, walls"):
        mesh.boundary_nodes("inlet")
