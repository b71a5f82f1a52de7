"""The `Mesh` type: simplex cells, tagged boundary facets and named physical groups.

A mesh is plain geometry and topology. It holds tensors on the CPU in float64/int64 by
default; the function spaces built on it move what they need to the compute device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from .._fingerprint import content_fingerprint

__all__ = ["Mesh", "MeshError", "CELL_TYPES", "FACET_TYPES"]

# meshio cell-type names of the simplices per topological dimension.
CELL_TYPES = {1: "line", 2: "triangle", 3: "tetra"}
FACET_TYPES = {1: "vertex", 2: "line", 3: "triangle"}


class MeshError(ValueError):
    """A mesh (or mesh file) is unusable. The message names the problem, the source and,
    where possible, the offending point or cell ids, and says how to fix it."""


@dataclass(frozen=True, eq=False)
class Mesh:
    """A conforming simplex mesh in 1, 2 or 3 dimensions.

    Attributes:
        points: [n_nodes, dim] float. Node coordinates (dim = topological dimension).
        cells: [n_cells, dim + 1] int64. Node indices of each simplex, positively oriented
            (positive signed volume).
        facets: [n_facets, dim] int64. Node indices of tagged boundary (or interface) facets.
        facet_tags: [n_facets] int64. Physical-group tag of each facet.
        boundaries: {name: tag} for the facet physical groups (gmsh physical names).
        cell_tags: [n_cells] int64 or None. Physical-group tag of each cell (subdomains).
        subdomains: {name: tag} for the cell physical groups.
        point_data: {name: [n_nodes, ...] tensor}. Fields carried through file I/O.
        cell_data: {name: [n_cells, ...] tensor}.
        source: Where the mesh came from (file name or generator), used in error messages.
    """

    points: torch.Tensor
    cells: torch.Tensor
    facets: torch.Tensor
    facet_tags: torch.Tensor
    boundaries: dict[str, int]
    cell_tags: torch.Tensor | None = None
    subdomains: dict[str, int] = field(default_factory=dict)
    point_data: dict[str, torch.Tensor] = field(default_factory=dict)
    cell_data: dict[str, torch.Tensor] = field(default_factory=dict)
    source: str = "<memory>"

    def __post_init__(self) -> None:
        dim = self.points.shape[1] if self.points.ndim == 2 else -1
        if dim not in (1, 2, 3):
            raise MeshError(
                f"Mesh({self.source}): points must have shape (n_nodes, dim) with dim in 1..3, "
                f"got {tuple(self.points.shape)}"
            )
        if self.cells.ndim != 2 or self.cells.shape[1] != dim + 1:
            raise MeshError(
                f"Mesh({self.source}): cells must have shape (n_cells, {dim + 1}) for a {dim}D "
                f"simplex mesh, got {tuple(self.cells.shape)}"
            )
        if self.facets.ndim != 2 or self.facets.shape[1] != dim:
            raise MeshError(
                f"Mesh({self.source}): facets must have shape (n_facets, {dim}), "
                f"got {tuple(self.facets.shape)}"
            )
        if self.facet_tags.shape != (self.facets.shape[0],):
            raise MeshError(
                f"Mesh({self.source}): facet_tags must have shape ({self.facets.shape[0]},), "
                f"got {tuple(self.facet_tags.shape)}"
            )

    # ------------------------------------------------------------------ sizes
    @property
    def dim(self) -> int:
        return int(self.points.shape[1])

    @property
    def n_nodes(self) -> int:
        return int(self.points.shape[0])

    @property
    def n_cells(self) -> int:
        return int(self.cells.shape[0])

    @property
    def n_facets(self) -> int:
        return int(self.facets.shape[0])

    def __repr__(self) -> str:
        names = ", ".join(f"{k}({self.facet_count(k)})" for k in self.boundaries)
        return (
            f"Mesh(dim={self.dim}, n_nodes={self.n_nodes}, n_cells={self.n_cells}, "
            f"boundaries=[{names}], source={self.source!r})"
        )

    # -------------------------------------------------------------- geometry
    def cell_volumes(self, signed: bool = False) -> torch.Tensor:
        """[n_cells] float: length, area or volume of each cell (signed: orientation sign)."""
        return simplex_volumes(self.points, self.cells, signed=signed)

    def cell_diameters(self) -> torch.Tensor:
        """[n_cells] float: the longest edge of each cell (the h of stabilisation and
        Courant numbers)."""
        p = self.points[self.cells]
        n = p.shape[1]
        return torch.stack([(p[:, a] - p[:, b]).norm(dim=-1) for a in range(n) for b in range(a + 1, n)], -1).max(-1).values

    def measure(self) -> float:
        """Total length, area or volume of the domain."""
        return float(self.cell_volumes().sum())

    def facet_measures(self, facets: torch.Tensor | None = None) -> torch.Tensor:
        """[n] float: measure of each facet (1 for points, lengths, areas)."""
        facets = self.facets if facets is None else facets
        if self.dim == 1:
            return torch.ones(facets.shape[0], dtype=self.points.dtype)
        p = self.points[facets]
        if self.dim == 2:
            return (p[:, 1] - p[:, 0]).norm(dim=1)
        e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
        return 0.5 * torch.linalg.cross(e1, e2).norm(dim=1)

    def facet_normals(self, facets: torch.Tensor | None = None) -> torch.Tensor:
        """[n, dim] float: outward unit normals of boundary facets (default: the tagged ones),
        pointing away from the one cell each belongs to. 1D: +1 or -1."""
        facets = self.facets if facets is None else facets
        n_nodes, d = self.n_nodes, self.dim
        faces = all_facets(self.cells)  # row c + k * n_cells: facet of cell c opposite local vertex k
        def key(f):  # one int64 per sorted facet (n_nodes^dim < 2^63 for up to ~2M nodes in 3D)
            k = torch.zeros(len(f), dtype=torch.int64)
            for j in range(f.shape[1]):
                k = k * n_nodes + f[:, j]
            return k
        face_keys, order = torch.sort(key(faces))
        wanted = key(torch.sort(facets, dim=1).values)
        pos = torch.searchsorted(face_keys, wanted).clamp(max=len(face_keys) - 1)
        if not bool((face_keys[pos] == wanted).all()):
            raise MeshError(f"Mesh({self.source}): facet_normals: some facets are not facets of any cell")
        row = order[pos]
        opposite = self.points[self.cells[row % self.n_cells, row // self.n_cells]]
        p = self.points[facets]
        if d == 1:
            normal = torch.ones(len(facets), 1, dtype=p.dtype)
        elif d == 2:
            e = p[:, 1] - p[:, 0]
            normal = torch.stack([e[:, 1], -e[:, 0]], dim=1)
        else:
            normal = torch.linalg.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
        inward = ((opposite - p[:, 0]) * normal).sum(1) > 0
        normal = torch.where(inward[:, None], -normal, normal)
        return normal / normal.norm(dim=1, keepdim=True)

    def bounding_box(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.points.min(dim=0).values, self.points.max(dim=0).values

    # -------------------------------------------------------------- boundaries
    def fingerprint(self) -> str:
        """SHA-256 of the mesh's content (points, cells, boundary facets, their tags and
        names): equal for equal meshes wherever they were read from, different for a
        different mesh written to the same path. Data caches key on it."""
        return content_fingerprint({"points": self.points, "cells": self.cells, "facets": self.facets,
                                    "facet_tags": self.facet_tags, "boundaries": self.boundaries})

    def boundary_tag(self, name: str) -> int:
        """The physical-group tag of boundary `name`; unknown names list the known ones."""
        if name not in self.boundaries:
            known = ", ".join(sorted(self.boundaries)) or "none"
            raise MeshError(
                f"Mesh({self.source}): unknown boundary {name!r}; this mesh has: {known}. "
                "Boundary names come from gmsh physical groups of dimension dim-1."
            )
        return self.boundaries[name]

    def facet_count(self, name: str) -> int:
        return int((self.facet_tags == self.boundary_tag(name)).sum())

    def boundary_facets(self, *names: str) -> torch.Tensor:
        """[n, dim] int64: facets of the named boundaries (all tagged facets if no name)."""
        if not names:
            return self.facets
        mask = torch.zeros(self.n_facets, dtype=torch.bool)
        for name in names:
            mask |= self.facet_tags == self.boundary_tag(name)
        return self.facets[mask]

    def boundary_nodes(self, *names: str) -> torch.Tensor:
        """[n] int64: sorted unique node ids on the named boundaries."""
        return torch.unique(self.boundary_facets(*names))

    def exterior_facets(self) -> torch.Tensor:
        """[n, dim] int64: facets that belong to exactly one cell (the domain boundary),
        whether tagged or not. Node ids within a facet are sorted."""
        faces = all_facets(self.cells)
        uniq, counts = torch.unique(faces, dim=0, return_counts=True)
        return uniq[counts == 1]

    def edges(self) -> torch.Tensor:
        """[2, n_edges] int64: unique undirected edges (i < j) of the cells."""
        n = self.cells.shape[1]
        pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
        e = torch.cat([self.cells[:, [a, b]] for a, b in pairs], dim=0)
        e = torch.sort(e, dim=1).values
        return torch.unique(e, dim=0).T.contiguous()

    # ---------------------------------------------------------------- moves
    def to(self, device=None, dtype: torch.dtype | None = None) -> Mesh:
        """A copy with points (and float fields) on `device` in `dtype`; ids keep int64."""

        def mv(t: torch.Tensor) -> torch.Tensor:
            if t.is_floating_point():
                return t.to(device=device, dtype=dtype or t.dtype)
            return t.to(device=device)

        return replace(
            self,
            points=mv(self.points),
            cells=mv(self.cells),
            facets=mv(self.facets),
            facet_tags=mv(self.facet_tags),
            cell_tags=None if self.cell_tags is None else mv(self.cell_tags),
            point_data={k: mv(v) for k, v in self.point_data.items()},
            cell_data={k: mv(v) for k, v in self.cell_data.items()},
        )

    def with_data(
        self,
        point_data: dict[str, torch.Tensor] | None = None,
        cell_data: dict[str, torch.Tensor] | None = None,
    ) -> Mesh:
        """A copy with extra point/cell fields (e.g. a solution to write to .vtu)."""
        pd, cd = dict(self.point_data), dict(self.cell_data)
        for k, v in (point_data or {}).items():
            v = torch.as_tensor(v)
            if v.shape[0] != self.n_nodes:
                raise MeshError(
                    f"with_data: point field {k!r} has {v.shape[0]} rows, expected n_nodes = {self.n_nodes}"
                )
            pd[k] = v
        for k, v in (cell_data or {}).items():
            v = torch.as_tensor(v)
            if v.shape[0] != self.n_cells:
                raise MeshError(
                    f"with_data: cell field {k!r} has {v.shape[0]} rows, expected n_cells = {self.n_cells}"
                )
            cd[k] = v
        return replace(self, point_data=pd, cell_data=cd)

    def to_pyvista(self, point_data: dict | None = None, cell_data: dict | None = None):
        """A `pyvista.UnstructuredGrid` of the cells with the mesh's (and extra) fields."""
        from .pyvista_convert import mesh_to_pyvista

        return mesh_to_pyvista(self, point_data=point_data, cell_data=cell_data)

    def boundaries_to_pyvista(self):
        """The named boundary facets as a pyvista grid with a "boundary" cell field (the
        index in `sorted(self.boundaries)`), to colour the physical groups."""
        from .pyvista_convert import boundaries_to_pyvista

        return boundaries_to_pyvista(self)


# ---------------------------------------------------------------------- helpers
def simplex_volumes(points: torch.Tensor, cells: torch.Tensor, signed: bool = False):
    """[n_cells] float: signed or absolute measure of simplices given by `cells`."""
    p = points[cells]
    d = cells.shape[1] - 1
    jac = (p[:, 1:] - p[:, :1]).transpose(1, 2)  # [n, dim, d]
    if jac.shape[1] != d:
        raise MeshError(
            f"simplex_volumes: {d}-simplices need {d}D points for a signed volume, got {jac.shape[1]}D points"
        )
    vol = torch.linalg.det(jac) / math.factorial(d)
    return vol if signed else vol.abs()


def all_facets(cells: torch.Tensor) -> torch.Tensor:
    """[n_cells * (dim+1), dim] int64: every facet of every cell, node ids sorted.
    Row c + k * n_cells is the facet of cell c opposite its local vertex k."""
    n = cells.shape[1]
    faces = [cells[:, [j for j in range(n) if j != k]] for k in range(n)]
    return torch.sort(torch.cat(faces, dim=0), dim=1).values


def as_index_array(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.int64, copy=False)
