"""Unstructured meshes from the gmsh Python API (OpenCASCADE kernel), boundaries named.

Every generator takes the target element size `h` and returns a validated `Mesh` whose
boundaries are gmsh physical groups. The model is written to a temporary `.msh` file and
read back through the same reader users call, so a generated mesh and the same mesh loaded
from disk are built by one code path.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path

from .gmsh_session import gmsh_session
from .io import from_meshio, quiet_meshio_read
from .mesh import Mesh, MeshError
from .validate import repair, validate

__all__ = [
    "unit_interval",
    "rectangle",
    "box",
    "disk",
    "l_shape",
    "cavity",
    "channel_cylinder",
    "channel_cylinder_3d",
    "DFG_2D",
    "DFG_3D",
]

# DFG benchmark geometry (Schaefer & Turek 1996): channel length, height, cylinder centre, radius.
DFG_2D = {"length": 2.2, "height": 0.41, "center": (0.2, 0.2), "radius": 0.05}
DFG_3D = {"length": 2.5, "height": 0.41, "center": (0.5, 0.2), "radius": 0.05}

BBox = tuple[float, float, float, float, float, float]
Rule = tuple[str, Callable[[BBox], bool]]
_EPS = 1e-6


def _check_h(h: float, name: str) -> None:
    if not (isinstance(h, (int, float)) and math.isfinite(h) and h > 0):
        raise MeshError(f"{name}: mesh size h must be a positive number, got {h!r}")


def _at(axis: int, value: float) -> Callable[[BBox], bool]:
    """Predicate: the entity lies in the plane/line coordinate[axis] == value."""
    return lambda bb: abs(bb[axis] - value) < _EPS and abs(bb[axis + 3] - value) < _EPS


def _build(name: str, dim: int, h: float, rules: list[Rule], make: Callable) -> Mesh:
    """Run `make(gmsh)` to create the geometry, name boundary entities by `rules` (first
    match wins; an entity matching none is an error), mesh, and convert."""
    _check_h(h, name)
    with gmsh_session() as gmsh, tempfile.TemporaryDirectory() as tmp:
        gmsh.model.add(name)
        make(gmsh)
        gmsh.model.occ.synchronize()
        groups: dict[str, list[int]] = {rule_name: [] for rule_name, _ in rules}
        for _, tag in gmsh.model.getEntities(dim - 1):
            bb = gmsh.model.getBoundingBox(dim - 1, tag)
            for rule_name, pred in rules:
                if pred(bb):
                    groups[rule_name].append(tag)
                    break
            else:
                raise MeshError(f"{name}: boundary entity {tag} with bbox {bb} matches no rule")
        for i, (group, tags) in enumerate(groups.items(), start=1):
            gmsh.model.addPhysicalGroup(dim - 1, tags, i, group)
        gmsh.model.addPhysicalGroup(dim, [t for _, t in gmsh.model.getEntities(dim)], 1, "domain")
        gmsh.option.setNumber("Mesh.MeshSizeMax", h)
        gmsh.option.setNumber("Mesh.MeshSizeMin", h / 10)
        # Sizes come from h (and refinement fields) only, not from gmsh's default point sizes.
        gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
        gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 1)
        gmsh.model.mesh.generate(dim)
        path = Path(tmp) / f"{name}.msh"
        gmsh.write(str(path))
        raw = quiet_meshio_read(path)
    mesh, _ = repair(from_meshio(raw, source=f"{name}(h={h:g})"))  # gmsh orientation varies
    return validate(mesh)


def unit_interval(h: float = 0.05, length: float = 1.0) -> Mesh:
    """[0, length] with boundaries `left` (x=0) and `right` (x=length)."""

    def make(gmsh):
        occ = gmsh.model.occ
        occ.addLine(occ.addPoint(0, 0, 0), occ.addPoint(length, 0, 0))

    return _build("unit_interval", 1, h, [("left", _at(0, 0.0)), ("right", _at(0, length))], make)


def _side_rules_2d(width: float, height: float) -> list[Rule]:
    return [
        ("left", _at(0, 0.0)),
        ("right", _at(0, width)),
        ("bottom", _at(1, 0.0)),
        ("top", _at(1, height)),
    ]


def rectangle(h: float = 0.1, width: float = 1.0, height: float = 1.0) -> Mesh:
    """[0, width] x [0, height]; boundaries `left`, `right`, `bottom`, `top`."""
    return _build(
        "rectangle",
        2,
        h,
        _side_rules_2d(width, height),
        lambda gmsh: gmsh.model.occ.addRectangle(0, 0, 0, width, height),
    )


def box(h: float = 0.2, size: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> Mesh:
    """[0, a] x [0, b] x [0, c]; boundaries `left`/`right` (x), `front`/`back` (y),
    `bottom`/`top` (z)."""
    a, b, c = size
    rules = [
        ("left", _at(0, 0.0)),
        ("right", _at(0, a)),
        ("front", _at(1, 0.0)),
        ("back", _at(1, b)),
        ("bottom", _at(2, 0.0)),
        ("top", _at(2, c)),
    ]
    return _build("box", 3, h, rules, lambda gmsh: gmsh.model.occ.addBox(0, 0, 0, a, b, c))


def disk(h: float = 0.1, radius: float = 1.0) -> Mesh:
    """Disk of `radius` centred at the origin; boundary `boundary`."""
    return _build(
        "disk",
        2,
        h,
        [("boundary", lambda bb: True)],
        lambda gmsh: gmsh.model.occ.addDisk(0, 0, 0, radius, radius),
    )


def l_shape(h: float = 0.1) -> Mesh:
    """[-1, 1]^2 minus [0, 1] x [-1, 0] (area 3); boundaries `reentrant` (the two edges
    meeting at the re-entrant corner at the origin) and `outer`."""

    def make(gmsh):
        occ = gmsh.model.occ
        occ.cut([(2, occ.addRectangle(-1, -1, 0, 2, 2))], [(2, occ.addRectangle(0, -1, 0, 1, 1))])

    def touches_origin(bb: BBox) -> bool:
        # x = 0 for y in [-1, 0], or y = 0 for x in [0, 1]
        return (_at(0, 0.0)(bb) and bb[4] < _EPS) or (_at(1, 0.0)(bb) and bb[0] > -_EPS)

    return _build("l_shape", 2, h, [("reentrant", touches_origin), ("outer", lambda bb: True)], make)


def cavity(h: float = 0.05, size: float = 1.0) -> Mesh:
    """Lid-driven cavity [0, size]^2: boundaries `lid` (y = size) and `walls`."""
    return _build(
        "cavity",
        2,
        h,
        [("lid", _at(1, size)), ("walls", lambda bb: True)],
        lambda gmsh: gmsh.model.occ.addRectangle(0, 0, 0, size, size),
    )


def channel_cylinder(h: float = 0.05, h_cylinder: float | None = None) -> Mesh:
    """DFG 2D benchmark channel: [0, 2.2] x [0, 0.41] minus the disk of radius 0.05 centred
    at (0.2, 0.2). Boundaries `inlet` (x=0), `outlet` (x=2.2), `walls`, `cylinder`.

    Args:
        h: element size away from the cylinder.
        h_cylinder: element size on the cylinder (default h / 3, at least resolving it).
    """
    g = DFG_2D
    hc = h_cylinder if h_cylinder is not None else h / 3
    _check_h(hc, "channel_cylinder")

    def make(gmsh):
        occ = gmsh.model.occ
        (cx, cy), r = g["center"], g["radius"]
        occ.cut(
            [(2, occ.addRectangle(0, 0, 0, g["length"], g["height"]))], [(2, occ.addDisk(cx, cy, 0, r, r))]
        )
        occ.synchronize()
        _refine_near(gmsh, 1, lambda bb: bb[3] < 0.3 and bb[0] > 0.1, hc, h, 4 * r)

    rules = [
        ("inlet", _at(0, 0.0)),
        ("outlet", _at(0, g["length"])),
        ("walls", lambda bb: _at(1, 0.0)(bb) or _at(1, g["height"])(bb)),
        ("cylinder", lambda bb: True),
    ]
    return _build("channel_cylinder", 2, h, rules, make)


def channel_cylinder_3d(h: float = 0.1, h_cylinder: float | None = None) -> Mesh:
    """DFG 3D benchmark channel: [0, 2.5] x [0, 0.41]^2 minus the cylinder of radius 0.05
    around the z-parallel axis through (0.5, 0.2). Boundaries `inlet`, `outlet`, `walls`,
    `cylinder`."""
    g = DFG_3D
    hc = h_cylinder if h_cylinder is not None else h / 2
    _check_h(hc, "channel_cylinder_3d")
    H = g["height"]

    def make(gmsh):
        occ = gmsh.model.occ
        (cx, cy), r = g["center"], g["radius"]
        occ.cut([(3, occ.addBox(0, 0, 0, g["length"], H, H))], [(3, occ.addCylinder(cx, cy, 0, 0, 0, H, r))])
        occ.synchronize()
        _refine_near(gmsh, 2, lambda bb: bb[0] > 0.1 and bb[3] < 1.0, hc, h, 4 * r)

    rules = [
        ("inlet", _at(0, 0.0)),
        ("outlet", _at(0, g["length"])),
        ("walls", lambda bb: any(_at(a, v)(bb) for a in (1, 2) for v in (0.0, H))),
        ("cylinder", lambda bb: True),
    ]
    return _build("channel_cylinder_3d", 3, h, rules, make)


def _refine_near(gmsh, dim: int, select, h_near: float, h_far: float, width: float) -> None:
    """Grade the element size from h_near on the selected entities to h_far at `width`."""
    tags = [t for _, t in gmsh.model.getEntities(dim) if select(gmsh.model.getBoundingBox(dim, t))]
    field = gmsh.model.mesh.field
    dist = field.add("Distance")
    field.setNumbers(dist, "CurvesList" if dim == 1 else "SurfacesList", tags)
    field.setNumber(dist, "Sampling", 100)
    thr = field.add("Threshold")
    field.setNumber(thr, "InField", dist)
    field.setNumber(thr, "SizeMin", h_near)
    field.setNumber(thr, "SizeMax", h_far)
    field.setNumber(thr, "DistMin", 0.0)
    field.setNumber(thr, "DistMax", width)
    field.setAsBackgroundMesh(thr)
