"""Off-screen pyvista rendering of meshes and fields to PNG (no display needed)."""

from __future__ import annotations

import os
from pathlib import Path

from .._io import atomic_path
from ..mesh import Mesh

__all__ = ["plot_mesh"]


def plot_mesh(
    mesh: Mesh,
    path: str | os.PathLike,
    field=None,
    *,
    field_name: str = "u",
    show_edges: bool = True,
    window_size: tuple[int, int] = (900, 600),
    title: str | None = None,
) -> Path:
    """Render `mesh` (optionally coloured by a nodal `field` [n_nodes] or a cell field
    [n_cells]) to a PNG at `path`, off-screen. Returns the path.

    2D meshes are viewed from above; 3D meshes from an oblique camera with a clip through the
    middle so the interior field is visible.
    """
    import pyvista as pv

    extra_points, extra_cells = {}, {}
    if field is not None:
        rows = field.shape[0]
        if rows == mesh.n_nodes:
            extra_points[field_name] = field
        elif rows == mesh.n_cells:
            extra_cells[field_name] = field
        else:
            raise ValueError(
                f"plot_mesh: field has {rows} rows; expected n_nodes = {mesh.n_nodes} "
                f"or n_cells = {mesh.n_cells}"
            )
    grid = mesh.to_pyvista(point_data=extra_points, cell_data=extra_cells)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plotter = pv.Plotter(off_screen=True, window_size=list(window_size))
    plotter.set_background("white")
    scalars = field_name if field is not None else None
    if mesh.dim == 3:
        shown = grid.clip(normal="y", origin=grid.center, crinkle=True) if field is not None else grid
    else:
        shown = grid
    plotter.add_mesh(
        shown,
        scalars=scalars,
        show_edges=show_edges,
        color=None if scalars else "lightsteelblue",
        edge_color="black",
        line_width=2 if mesh.dim == 1 else 1,
        cmap="viridis",
    )
    if title:
        plotter.add_text(title, font_size=10, color="black")
    if mesh.dim < 3:
        plotter.view_xy()
        plotter.camera.tight(padding=0.05)
    else:
        plotter.view_isometric()
    try:
        with atomic_path(path) as tmp:
            plotter.screenshot(str(tmp))
    finally:
        plotter.close()
    return path
