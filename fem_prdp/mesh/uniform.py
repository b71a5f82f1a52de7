"""Uniform grids as special meshes: the finite-difference cases on the same `Mesh` type.

Node numbering is lexicographic (x fastest), so node (i, j[, k]) of an (nx+1) x (ny+1)
[x (nz+1)] grid has id i + (nx+1) * (j + (ny+1) * k): a field reshaped to (ny+1, nx+1)
is the familiar finite-difference array. Boundary names and tags are fixed:
left=1, right=2 (x); bottom=3, top=4 (y in 2D, z in 3D); front=5, back=6 (y in 3D).
Each boundary facet lies on exactly one side, so corner nodes belong to two boundaries.
"""

from __future__ import annotations

import torch

from .mesh import Mesh, MeshError
from .validate import repair, validate

__all__ = ["uniform_interval", "uniform_rectangle", "uniform_box", "DIAGONALS"]

DIAGONALS = ("right", "left", "crossed")
_TAGS_1D = {"left": 1, "right": 2}
_TAGS_2D = {"left": 1, "right": 2, "bottom": 3, "top": 4}
_TAGS_3D = {"left": 1, "right": 2, "bottom": 3, "top": 4, "front": 5, "back": 6}


def _check_counts(name: str, **counts: int) -> None:
    for key, n in counts.items():
        if not isinstance(n, int) or n < 1:
            raise MeshError(f"{name}: {key} must be a positive integer number of cells, got {n!r}")


def _grid(shape: tuple[int, ...], lengths: tuple[float, ...], dtype) -> torch.Tensor:
    axes = [torch.linspace(0.0, length, n + 1, dtype=dtype) for n, length in zip(shape, lengths, strict=True)]
    grids = torch.meshgrid(*reversed(axes), indexing="ij")  # slowest axis first
    return torch.stack([g.reshape(-1) for g in reversed(grids)], dim=1)


def uniform_interval(n: int, length: float = 1.0, dtype=torch.float64) -> Mesh:
    """[0, length] split into `n` equal cells; boundaries `left`, `right`."""
    _check_counts("uniform_interval", n=n)
    points = _grid((n,), (length,), dtype)
    ids = torch.arange(n)
    cells = torch.stack([ids, ids + 1], dim=1)
    facets = torch.tensor([[0], [n]])
    return validate(
        Mesh(points, cells, facets, torch.tensor([1, 2]), dict(_TAGS_1D), source=f"uniform_interval(n={n})")
    )


def uniform_rectangle(
    nx: int,
    ny: int | None = None,
    width: float = 1.0,
    height: float = 1.0,
    diagonal: str = "right",
    dtype=torch.float64,
) -> Mesh:
    """[0, width] x [0, height] with nx x ny squares, each split into triangles.

    Args:
        diagonal: "right" (diagonal from lower-left to upper-right), "left" (lower-right to
            upper-left), or "crossed" (both diagonals, a node added at each square's centre;
            the centre nodes are numbered after the grid nodes).
    """
    ny = nx if ny is None else ny
    _check_counts("uniform_rectangle", nx=nx, ny=ny)
    if diagonal not in DIAGONALS:
        raise MeshError(f"uniform_rectangle: diagonal must be one of {DIAGONALS}, got {diagonal!r}")
    points = _grid((nx, ny), (width, height), dtype)
    i, j = torch.meshgrid(torch.arange(nx), torch.arange(ny), indexing="xy")
    i, j = i.reshape(-1), j.reshape(-1)
    v00 = i + (nx + 1) * j
    v10, v01, v11 = v00 + 1, v00 + nx + 1, v00 + nx + 2
    if diagonal == "right":
        cells = torch.cat([torch.stack([v00, v10, v11], 1), torch.stack([v00, v11, v01], 1)])
    elif diagonal == "left":
        cells = torch.cat([torch.stack([v00, v10, v01], 1), torch.stack([v10, v11, v01], 1)])
    else:
        centre_pts = torch.stack([(i.to(dtype) + 0.5) * width / nx, (j.to(dtype) + 0.5) * height / ny], dim=1)
        c = points.shape[0] + torch.arange(nx * ny)
        points = torch.cat([points, centre_pts])
        cells = torch.cat(
            [
                torch.stack([v00, v10, c], 1),
                torch.stack([v10, v11, c], 1),
                torch.stack([v11, v01, c], 1),
                torch.stack([v01, v00, c], 1),
            ]
        )
    ix, iy = torch.arange(nx), torch.arange(ny)
    sides = {
        "left": torch.stack([(nx + 1) * iy, (nx + 1) * (iy + 1)], 1),
        "right": torch.stack([(nx + 1) * iy + nx, (nx + 1) * (iy + 1) + nx], 1),
        "bottom": torch.stack([ix, ix + 1], 1),
        "top": torch.stack([(nx + 1) * ny + ix, (nx + 1) * ny + ix + 1], 1),
    }
    facets = torch.cat(list(sides.values()))
    tags = torch.cat([torch.full((len(f),), _TAGS_2D[k]) for k, f in sides.items()])
    return validate(
        Mesh(
            points,
            cells,
            facets,
            tags,
            dict(_TAGS_2D),
            source=f"uniform_rectangle(nx={nx}, ny={ny}, diagonal={diagonal})",
        )
    )


# Kuhn (Freudenthal) split of the unit cube into 6 tetrahedra along the main diagonal
# 0 -> 7; corners numbered bit-wise (x = bit 0, y = bit 1, z = bit 2). Conforming across
# neighbouring cubes because every cube is split the same way.
_KUHN = [
    (0, 1, 3, 7),
    (0, 1, 5, 7),
    (0, 2, 3, 7),
    (0, 2, 6, 7),
    (0, 4, 5, 7),
    (0, 4, 6, 7),
]


def uniform_box(
    nx: int,
    ny: int | None = None,
    nz: int | None = None,
    size: tuple[float, float, float] = (1.0, 1.0, 1.0),
    dtype=torch.float64,
) -> Mesh:
    """[0, a] x [0, b] x [0, c] with nx x ny x nz cubes, each split into 6 tetrahedra.
    Boundaries `left`/`right` (x), `front`/`back` (y), `bottom`/`top` (z)."""
    ny = nx if ny is None else ny
    nz = nx if nz is None else nz
    _check_counts("uniform_box", nx=nx, ny=ny, nz=nz)
    points = _grid((nx, ny, nz), size, dtype)
    sx, sy = 1, nx + 1
    sz = (nx + 1) * (ny + 1)
    k, j, i = torch.meshgrid(torch.arange(nz), torch.arange(ny), torch.arange(nx), indexing="ij")
    base = (i * sx + j * sy + k * sz).reshape(-1)
    corner = torch.tensor([(b & 1) * sx + (b >> 1 & 1) * sy + (b >> 2 & 1) * sz for b in range(8)])
    verts = base[:, None] + corner[None, :]  # [n_cubes, 8]
    cells = torch.cat([verts[:, list(t)] for t in _KUHN])
    # Boundary facets: the faces of the tetrahedra that lie on the box's sides.
    no_facets = torch.zeros((0, 3), dtype=torch.long)
    mesh = Mesh(points, cells, no_facets, torch.zeros(0, dtype=torch.long), {}, source="uniform_box")
    ext = mesh.exterior_facets()
    p = points[ext]  # [n, 3, 3]
    lengths = torch.tensor(size, dtype=dtype)
    tags = torch.zeros(len(ext), dtype=torch.long)
    for axis, (low, high) in enumerate([("left", "right"), ("front", "back"), ("bottom", "top")]):
        coord = p[:, :, axis]
        tags[(coord == 0).all(1)] = _TAGS_3D[low]
        tags[(coord == lengths[axis]).all(1)] = _TAGS_3D[high]
    order = torch.argsort(tags, stable=True)
    names = sorted(_TAGS_3D, key=_TAGS_3D.get)
    mesh = Mesh(
        points,
        cells,
        ext[order],
        tags[order],
        {k: _TAGS_3D[k] for k in names},
        source=f"uniform_box(nx={nx}, ny={ny}, nz={nz})",
    )
    # Kuhn tetrahedra alternate orientation: orient them all positively.
    mesh, _ = repair(mesh)
    return validate(mesh)
