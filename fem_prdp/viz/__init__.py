"""Visualisation helpers (pyvista off-screen rendering, matplotlib plots)."""

from .pyvista_plot import plot_mesh

__all__ = ["plot_mesh"]
