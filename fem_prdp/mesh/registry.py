"""Mesh generators by name (used by the CLI and by experiments' `--mesh` option)."""

from __future__ import annotations

import math
from collections.abc import Callable

from .._catalog import MESH_KINDS
from . import generators as g
from .mesh import Mesh, MeshError
from .uniform import uniform_box, uniform_interval, uniform_rectangle

__all__ = ["GENERATORS", "generate"]


def _cells_for(h: float) -> int:
    """Cells per unit length for a uniform mesh of spacing about h."""
    if not (h > 0 and math.isfinite(h)):
        raise MeshError(f"generate: mesh size h must be positive, got {h!r}")
    return max(1, round(1.0 / h))


# name -> builder taking h; the default h and the description are the catalog's (the
# command line shows them without importing the mesh layer)
_BUILDERS: dict[str, Callable[[float], Mesh]] = {
    "interval": g.unit_interval,
    "rectangle": g.rectangle,
    "box": g.box,
    "disk": g.disk,
    "l-shape": g.l_shape,
    "cavity": g.cavity,
    "channel-cylinder": g.channel_cylinder,
    "channel-cylinder-3d": g.channel_cylinder_3d,
    "uniform-interval": lambda h: uniform_interval(_cells_for(h)),
    "uniform-rectangle": lambda h: uniform_rectangle(_cells_for(h)),
    "uniform-rectangle-left": lambda h: uniform_rectangle(_cells_for(h), diagonal="left"),
    "uniform-rectangle-crossed": lambda h: uniform_rectangle(_cells_for(h), diagonal="crossed"),
    "uniform-box": lambda h: uniform_box(_cells_for(h)),
}
# name -> (builder taking h, default h, one-line description)
GENERATORS: dict[str, tuple[Callable[[float], Mesh], float, str]] = {
    name: (_BUILDERS[name], *MESH_KINDS[name]) for name in MESH_KINDS
}


def generate(kind: str, h: float | None = None) -> Mesh:
    """Build the mesh `kind` (a key of `GENERATORS`) with element size `h` (default: the
    generator's own)."""
    if kind not in GENERATORS:
        raise MeshError(f"unknown mesh kind {kind!r}; known kinds: {', '.join(GENERATORS)}")
    builder, default_h, _ = GENERATORS[kind]
    return builder(default_h if h is None else h)
