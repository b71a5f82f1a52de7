"""Conversion of a `Mesh` (and fields on it) to a `pyvista.UnstructuredGrid`."""

from __future__ import annotations

import numpy as np

from .mesh import Mesh, as_index_array

__all__ = ["mesh_to_pyvista"]

_VTK_TYPE = {1: 3, 2: 5, 3: 10}  # VTK_LINE, VTK_TRIANGLE, VTK_TETRA


def _as_numpy(value, rows: int, what: str, name: str) -> np.ndarray:
    arr = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
    if arr.shape[0] != rows:
        raise ValueError(f"to_pyvista: {what} {name!r} has {arr.shape[0]} rows, expected {rows}")
    return arr


def mesh_to_pyvista(mesh: Mesh, point_data: dict | None = None, cell_data: dict | None = None):
    """A `pyvista.UnstructuredGrid` of `mesh`'s cells (points padded to 3D), carrying the
    mesh's point/cell fields, `cell_tags` when present, and the extra fields given."""
    import pyvista as pv

    pts = mesh.points.detach().cpu().numpy().astype(np.float64)
    pts = np.hstack([pts, np.zeros((len(pts), 3 - pts.shape[1]))])
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
