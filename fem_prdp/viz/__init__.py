"""Visualisation helpers (pyvista off-screen rendering, matplotlib plots)."""

from .pyvista_plot import fields_figure, mesh_figure, plot_mesh

__all__ = ["plot_mesh", "mesh_figure", "fields_figure"]
