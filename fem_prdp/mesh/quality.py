"""Mesh quality statistics: angles, aspect ratios, cell-size histogram."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from .mesh import Mesh

__all__ = ["MeshQuality", "mesh_quality"]


@dataclass(frozen=True)
class MeshQuality:
    """Summary statistics of a mesh.

    Angles are interior angles of triangles (2D) or dihedral angles of tetrahedra (3D), in
    degrees (NaN in 1D). The aspect ratio is (longest edge) / (inradius), scaled so the
    regular simplex has 1. `size_hist` counts cells by longest edge in `size_bins`.
    """

    min_angle: float
    max_angle: float
    max_aspect_ratio: float
    mean_aspect_ratio: float
    h_min: float
    h_max: float
    size_hist: list[int]
    size_bins: list[float]

    def to_dict(self) -> dict:
        return asdict(self)


def _angles_2d(p: torch.Tensor) -> torch.Tensor:
    out = []
    for k in range(3):
        a, b, c = p[:, k], p[:, (k + 1) % 3], p[:, (k + 2) % 3]
        u, v = b - a, c - a
        cos = (u * v).sum(1) / (u.norm(dim=1) * v.norm(dim=1))
        out.append(torch.rad2deg(torch.arccos(cos.clamp(-1, 1))))
    return torch.stack(out, 1)


def _dihedral_3d(p: torch.Tensor) -> torch.Tensor:
    # Dihedral angle along edge (i, j) = pi - angle between the outward normals of the two
    # faces that share it; face k is opposite vertex k.
    normals = []
    for k in range(4):
        idx = [m for m in range(4) if m != k]
        a, b, c = p[:, idx[0]], p[:, idx[1]], p[:, idx[2]]
        n = torch.linalg.cross(b - a, c - a)
        outward = torch.sign(((a - p[:, k]) * n).sum(1, keepdim=True))
        normals.append(n * outward / n.norm(dim=1, keepdim=True))
    out = []
    for k in range(4):
        for m in range(k + 1, 4):
            cos = (normals[k] * normals[m]).sum(1).clamp(-1, 1)
            out.append(180.0 - torch.rad2deg(torch.arccos(cos)))
    return torch.stack(out, 1)


def mesh_quality(mesh: Mesh, bins: int = 10) -> MeshQuality:
    """Quality statistics of `mesh` (see `MeshQuality`)."""
    p = mesh.points[mesh.cells].to(torch.float64)
    n = mesh.cells.shape[1]
    edges = torch.stack([(p[:, a] - p[:, b]).norm(dim=1) for a in range(n) for b in range(a + 1, n)], 1)
    longest = edges.max(dim=1).values
    vol = mesh.cell_volumes().to(torch.float64)
    d = mesh.dim
    if d == 1:
        angles = torch.full((1, 1), math.nan, dtype=torch.float64)
        aspect = torch.ones_like(vol)
    else:
        if d == 2:
            angles = _angles_2d(p)
            surface = edges.sum(1)
        else:
            angles = _dihedral_3d(p)
            faces = [[m for m in range(4) if m != k] for k in range(4)]
            surface = sum(
                0.5 * torch.linalg.cross(p[:, f[1]] - p[:, f[0]], p[:, f[2]] - p[:, f[0]]).norm(dim=1)
                for f in faces
            )
        inradius = d * vol / surface
        regular = 2 * math.sqrt(3) if d == 2 else 2 * math.sqrt(6)  # edge / inradius
        aspect = longest / inradius / regular
    hist, edges_bins = np.histogram(longest.numpy(), bins=bins)
    return MeshQuality(
        min_angle=float(angles.min()),
        max_angle=float(angles.max()),
        max_aspect_ratio=float(aspect.max()),
        mean_aspect_ratio=float(aspect.mean()),
        h_min=float(longest.min()),
        h_max=float(longest.max()),
        size_hist=[int(c) for c in hist],
        size_bins=[float(b) for b in edges_bins],
    )
