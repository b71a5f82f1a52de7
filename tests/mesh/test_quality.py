import math

import pytest
import torch

import fem_prdp.mesh as M


def test_right_triangle_mesh_quality_is_exact():
    q = M.mesh_quality(M.uniform_rectangle(4))
    assert q.min_angle == pytest.approx(45.0) and q.max_angle == pytest.approx(90.0)
    assert q.h_max == pytest.approx(math.sqrt(2) / 4)
    # Right isosceles triangle, legs a: longest edge a*sqrt2, inradius a(2 - sqrt2)/2.
    expected = math.sqrt(2) / ((2 - math.sqrt(2)) / 2) / (2 * math.sqrt(3))
    assert q.max_aspect_ratio == pytest.approx(expected)
    assert sum(q.size_hist) == 32


def test_regular_tetrahedron_has_unit_aspect_ratio_and_known_dihedral():
    pts = torch.tensor([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=torch.float64)
    mesh = M.Mesh(
        pts,
        torch.tensor([[0, 1, 2, 3]]),
        torch.zeros((0, 3), dtype=torch.long),
        torch.zeros(0, dtype=torch.long),
        {},
    )
    if mesh.cell_volumes(signed=True)[0] < 0:
        mesh, _ = M.repair(mesh)
    q = M.mesh_quality(mesh)
    assert q.max_aspect_ratio == pytest.approx(1.0)
    assert q.min_angle == pytest.approx(math.degrees(math.acos(1 / 3)))
