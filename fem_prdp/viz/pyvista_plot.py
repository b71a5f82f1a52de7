"""Off-screen pyvista rendering of meshes and fields to PNG (no display needed)."""

from __future__ import annotations

import os
from pathlib import Path

from .._io import atomic_path
from ..mesh import Mesh

__all__ = ["plot_mesh", "mesh_figure", "fields_figure"]


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
    pv = _pyvista()

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
    _camera(plotter, mesh)
    try:
        with atomic_path(path) as tmp:
            plotter.screenshot(str(tmp))
    finally:
        plotter.close()
    return path


def mesh_figure(mesh: Mesh, window_size: tuple[int, int] = (700, 450), title: str | None = None):
    """A pyvista `Plotter` (off-screen) of the mesh with its named boundaries coloured and
    listed in a legend. `.show()` it in a notebook (inline with
    `pyvista.set_jupyter_backend("static")`) or `.screenshot(path)` it."""
    import matplotlib
    pv = _pyvista()

    plotter = pv.Plotter(off_screen=True, window_size=list(window_size))
    plotter.set_background("white")
    plotter.add_mesh(mesh.to_pyvista(), color="whitesmoke", show_edges=True, edge_color="grey")
    names = sorted(mesh.boundaries)
    colours = matplotlib.colormaps["tab10"]
    boundaries = mesh.boundaries_to_pyvista()
    for i, name in enumerate(names):
        part = boundaries.extract_cells(boundaries.cell_data["boundary"] == i)
        plotter.add_mesh(part, color=colours(i % 10)[:3], line_width=5, label=name)
    if names:
        plotter.add_legend(bcolor="white", face="line", size=(0.25, 0.06 * len(names) + 0.05))
    if title:
        plotter.add_text(title, font_size=10, color="black")
    _camera(plotter, mesh)
    return plotter


def fields_figure(mesh: Mesh, fields: dict, window_size: tuple[int, int] | None = None, cmap: str = "viridis",
                  label: str = "u"):
    """A pyvista `Plotter` (off-screen) with one panel per field ({title: nodal [n_nodes]
    or cell [n_cells] values}), all on one colour scale (one colour bar), so a prediction
    reads directly against its reference."""
    pv = _pyvista()

    values = {name: _as_numpy(field) for name, field in fields.items()}
    lo = min(float(v.min()) for v in values.values())
    hi = max(float(v.max()) for v in values.values())
    size = window_size or (380 * len(values), 400)
    plotter = pv.Plotter(shape=(1, len(values)), off_screen=True, window_size=list(size), border=False)
    plotter.set_background("white")
    for i, (name, value) in enumerate(values.items()):
        plotter.subplot(0, i)
        on_points = value.shape[0] == mesh.n_nodes
        grid = mesh.to_pyvista(point_data={label: value} if on_points else None,
                               cell_data=None if on_points else {label: value})
        plotter.add_mesh(grid, scalars=label, cmap=cmap, clim=(lo, hi), show_scalar_bar=i == len(values) - 1,
                         scalar_bar_args={"title": label, "color": "black"})
        plotter.add_text(name, font_size=9, color="black")
        _camera(plotter, mesh)
    return plotter


def _pyvista():
    """pyvista set up for rendering without a display: off-screen, and VTK's log limited to
    errors (it warns "bad X server connection" on every first render on a headless
    machine, although off-screen rendering works)."""
    import pyvista as pv
    from vtkmodules.vtkCommonCore import vtkLogger

    vtkLogger.SetStderrVerbosity(vtkLogger.VERBOSITY_ERROR)
    pv.OFF_SCREEN = True
    return pv


def _as_numpy(field):
    return field.detach().cpu().numpy() if hasattr(field, "detach") else field


def _camera(plotter, mesh: Mesh) -> None:
    if mesh.dim < 3:
        plotter.view_xy()
        plotter.camera.tight(padding=0.05)
    else:
        plotter.view_isometric()
