"""Mesh generators by name (used by the CLI and by experiments' `--mesh` option)."""

from __future__ import annotations

import math
from collections.abc import Callable

from . import generators as g
from .mesh import Mesh, MeshError
from .uniform import uniform_box, uniform_interval, uniform_rectangle

__all__ = ["GENERATORS", "generate"]


def _cells_for(h: float) -> int:
    """Cells per unit length for a uniform mesh of spacing about h."""
    if not (h > 0 and math.isfinite(h)):
        raise MeshError(f"generate: mesh size h must be positive, got {h!r}")
    return max(1, round(1.0 / h))


# name -> (builder taking h, default h, one-line description)
GENERATORS: dict[str, tuple[Callable[[float], Mesh], float, str]] = {
    "interval": (g.unit_interval, 0.05, "unit interval [0, 1] (gmsh); left, right"),
    "rectangle": (g.rectangle, 0.1, "unit square (gmsh); left, right, bottom, top"),
    "box": (g.box, 0.2, "unit cube (gmsh); left, right, front, back, bottom, top"),
    "disk": (g.disk, 0.1, "unit disk (gmsh); boundary"),
    "l-shape": (g.l_shape, 0.1, "[-1,1]^2 minus [0,1]x[-1,0] (gmsh); reentrant, outer"),
    "cavity": (g.cavity, 0.05, "lid-driven cavity, unit square (gmsh); lid, walls"),
    "channel-cylinder": (
        g.channel_cylinder,
        0.05,
        "DFG 2D channel with cylinder (gmsh); inlet, outlet, walls, cylinder",
    ),
    "channel-cylinder-3d": (
        g.channel_cylinder_3d,
        0.1,
        "DFG 3D channel with cylinder (gmsh); inlet, outlet, walls, cylinder",
    ),
    "uniform-interval": (
        lambda h: uniform_interval(_cells_for(h)),
        1 / 32,
        "uniform interval, n = 1/h cells",
    ),
    "uniform-rectangle": (
        lambda h: uniform_rectangle(_cells_for(h)),
        1 / 16,
        "uniform unit square, right diagonals",
    ),
    "uniform-rectangle-left": (
        lambda h: uniform_rectangle(_cells_for(h), diagonal="left"),
        1 / 16,
        "uniform unit square, left diagonals",
    ),
    "uniform-rectangle-crossed": (
        lambda h: uniform_rectangle(_cells_for(h), diagonal="crossed"),
        1 / 16,
        "uniform unit square, crossed diagonals",
    ),
    "uniform-box": (lambda h: uniform_box(_cells_for(h)), 1 / 8, "uniform unit cube, 6 tets per cube"),
}


def generate(kind: str, h: float | None = None) -> Mesh:
    """Build the mesh `kind` (a key of `GENERATORS`) with element size `h` (default: the
    generator's own)."""
    if kind not in GENERATORS:
        raise MeshError(f"unknown mesh kind {kind!r}; known kinds: {', '.join(GENERATORS)}")
    builder, default_h, _ = GENERATORS[kind]
    return builder(default_h if h is None else h)
