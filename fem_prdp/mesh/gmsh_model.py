"""A `Mesh` straight from the live gmsh model: build a geometry with the gmsh Python API
(in a notebook, say), mesh it, convert it, with no file in between.

    gmsh.initialize()
    gmsh.model.add("plate")
    ... geometry, gmsh.model.addPhysicalGroup(1, [...], name="inlet"), ...
    gmsh.model.mesh.generate(2)
    mesh = mesh_from_gmsh()       # boundaries named by the physical groups
    gmsh.finalize()
"""

from __future__ import annotations

import meshio
import numpy as np

from .io import from_meshio
from .mesh import Mesh, MeshError
from .validate import repair, validate

__all__ = ["mesh_from_gmsh"]

# dim -> (gmsh element type, meshio name) of the linear simplex; 0 for 1D meshes' boundary points
_SIMPLEX = {0: (15, "vertex"), 1: (1, "line"), 2: (2, "triangle"), 3: (4, "tetra")}


def mesh_from_gmsh(dim: int | None = None) -> Mesh:
    """The current gmsh model's mesh as a validated `Mesh`.

    Args:
        dim: the mesh's dimension (default: the model's, `gmsh.model.getDimension()`).

    Cells are the elements of the physical groups of dimension `dim` (all elements of that
    dimension when the model has no such group); boundaries are the physical groups of
    dimension `dim - 1`, named by their physical names (unnamed ones `boundary_<tag>`).
    Cell orientation is normalised and nodes no cell uses are dropped, as for the
    generators. Raises `MeshError` with the fix when gmsh is not initialised, the model
    has no mesh, or the elements are not linear simplices.
    """
    import gmsh

    if not gmsh.isInitialized():
        raise MeshError("mesh_from_gmsh: gmsh is not initialised; call gmsh.initialize(), build and mesh a model "
                        "(gmsh.model.mesh.generate(dim)), then convert it")
    dim = gmsh.model.getDimension() if dim is None else dim
    if dim not in (1, 2, 3):
        raise MeshError(f"mesh_from_gmsh: the model has dimension {dim}; build a 1D, 2D or 3D geometry first")
    tags, coords, _ = gmsh.model.mesh.getNodes()
    if len(tags) == 0:
        raise MeshError(f"mesh_from_gmsh: the model has no mesh; call gmsh.model.mesh.generate({dim}) first")
    order = np.argsort(tags)
    tags = np.asarray(tags)[order]
    points = np.asarray(coords).reshape(-1, 3)[order]

    def index(node_tags) -> np.ndarray:
        return np.searchsorted(tags, np.asarray(node_tags, dtype=np.int64))

    groups = {(d, t) for d, t in gmsh.model.getPhysicalGroups() if d in (dim, dim - 1)}
    cell_groups = sorted(t for d, t in groups if d == dim)
    entities = ({(dim, t): list(gmsh.model.getEntitiesForPhysicalGroup(dim, t)) for t in cell_groups}
                or {(dim, 0): [t for _, t in gmsh.model.getEntities(dim)]})
    entities.update({(d, t): list(gmsh.model.getEntitiesForPhysicalGroup(d, t)) for d, t in groups if d == dim - 1})

    cells, tag_arrays, field_data = [], [], {}
    for (d, group), members in sorted(entities.items()):
        blocks = [_simplices(gmsh, d, e) for e in members]
        data = np.concatenate(blocks) if blocks else np.zeros((0, d + 1), np.int64)
        cells.append((_SIMPLEX[d][1], index(data.ravel()).reshape(data.shape)))
        tag_arrays.append(np.full(len(data), group, dtype=np.int64))
        if group:
            name = gmsh.model.getPhysicalName(d, group) or (f"boundary_{group}" if d == dim - 1 else f"domain_{group}")
            field_data[name] = np.array([group, d])
    raw = meshio.Mesh(points, cells, cell_data={"gmsh:physical": tag_arrays}, field_data=field_data)
    source = f"gmsh model {gmsh.model.getCurrent()!r}"
    mesh, _ = repair(from_meshio(raw, source=source))
    return validate(mesh)


def _simplices(gmsh, d: int, entity: int) -> np.ndarray:
    """Node tags [n, d + 1] of the linear simplices of one entity; other elements refused."""
    types, _, nodes = gmsh.model.mesh.getElements(d, entity)
    out = []
    for kind, node_tags in zip(types, nodes, strict=True):
        if kind != _SIMPLEX[d][0]:
            name = gmsh.model.mesh.getElementProperties(kind)[0]
            raise MeshError(f"mesh_from_gmsh: entity ({d}, {entity}) has {name} elements; fem_prdp needs linear "
                            "simplices (set Mesh.ElementOrder = 1 and no recombination before generating)")
        out.append(np.asarray(node_tags, dtype=np.int64).reshape(-1, d + 1))
    return np.concatenate(out) if out else np.zeros((0, d + 1), np.int64)
