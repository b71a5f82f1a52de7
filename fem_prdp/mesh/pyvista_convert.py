"""Conversion of a `Mesh` (and fields on it) to a `pyvista.UnstructuredGrid`."""

from __future__ import annotations

import numpy as np

from .mesh import Mesh, as_index_array

__all__ = ["mesh_to_pyvista", "boundaries_to_pyvista"]

_VTK_TYPE = {1: 3, 2: 5, 3: 10}  # VTK_LINE, VTK_TRIANGLE, VTK_TETRA


def _as_numpy(value, rows: int, what: str, name: str) -> np.ndarray:
    arr = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
    if arr.shape[0] != rows:
        raise ValueError(f"to_pyvista: {what} {name!r} has {arr.shape[0]} rows, expected {rows}")
    return arr


def _points_3d(mesh: Mesh) -> np.ndarray:
    """[n_nodes, 3] float64 points, padded with zeros (VTK points are 3D)."""
    pts = mesh.points.detach().cpu().numpy().astype(np.float64)
    return np.hstack([pts, np.zeros((len(pts), 3 - pts.shape[1]))])


def mesh_to_pyvista(mesh: Mesh, point_data: dict | None = None, cell_data: dict | None = None):
    """A `pyvista.UnstructuredGrid` of `mesh`'s cells (points padded to 3D), carrying the
    mesh's point/cell fields, `cell_tags` when present, and the extra fields given."""
    import pyvista as pv

    pts = _points_3d(mesh)
    cells = as_index_array(mesh.cells)
    conn = np.hstack([np.full((len(cells), 1), cells.shape[1]), cells]).ravel()
    types = np.full(len(cells), _VTK_TYPE[mesh.dim], dtype=np.uint8)
    grid = pv.UnstructuredGrid(conn, types, pts)
    for name, value in {**mesh.point_data, **(point_data or {})}.items():
        grid.point_data[name] = _as_numpy(value, mesh.n_nodes, "point field", name)
    for name, value in {**mesh.cell_data, **(cell_data or {})}.items():
        grid.cell_data[name] = _as_numpy(value, mesh.n_cells, "cell field", name)
    if mesh.cell_tags is not None:
        grid.cell_data["cell_tags"] = as_index_array(mesh.cell_tags)
    return grid


def boundaries_to_pyvista(mesh: Mesh):
    """A `pyvista.UnstructuredGrid` of the named boundary facets (lines in 2D, triangles in
    3D), with cell field "boundary" = the index of each facet's boundary in
    `sorted(mesh.boundaries)`, for colouring the physical groups on a picture."""
    import pyvista as pv

    names = sorted(mesh.boundaries)
    keep = np.isin(as_index_array(mesh.facet_tags), [mesh.boundaries[n] for n in names])
    facets = as_index_array(mesh.facets)[keep]
    tags = as_index_array(mesh.facet_tags)[keep]
    pts = _points_3d(mesh)
    conn = np.hstack([np.full((len(facets), 1), facets.shape[1]), facets]).ravel()
    vtk_type = {1: 1, 2: 3, 3: 5}[mesh.dim]  # VTK_VERTEX, VTK_LINE, VTK_TRIANGLE
    grid = pv.UnstructuredGrid(conn, np.full(len(facets), vtk_type, dtype=np.uint8), pts)
    index = {mesh.boundaries[n]: i for i, n in enumerate(names)}
    grid.cell_data["boundary"] = np.array([index[int(t)] for t in tags], dtype=np.int64)
    return grid
