"""Mesh file I/O: `.msh` (gmsh v2.2 and v4.1), `.vtu` and `.xdmf`.

Reading goes through meshio for every format. Writing `.msh` goes through the gmsh API
itself (meshio 5.3's msh4 writer loses physical groups and its ASCII msh2 output with
fields cannot be read back), so files we write are exactly what gmsh would write.
VTK and XDMF have no place for physical names, so the `{name: tag}` map travels in the
name of the tag array: `gmsh:physical` tags plus a `fem_prdp:groups=...` marker array.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from pathlib import Path

import meshio
import numpy as np
import torch

from .._io import atomic_path
from .mesh import CELL_TYPES, FACET_TYPES, Mesh, MeshError, as_index_array
from .validate import repair as repair_mesh
from .validate import validate

__all__ = ["read_mesh", "write_mesh", "from_meshio", "SUPPORTED_SUFFIXES"]

SUPPORTED_SUFFIXES = (".msh", ".vtu", ".xdmf")
_DIM_OF_TYPE = {"vertex": 0, "line": 1, "triangle": 2, "tetra": 3}
_NONLINEAR_OR_NONSIMPLEX = {
    "line3": 1,
    "triangle6": 2,
    "quad": 2,
    "quad8": 2,
    "quad9": 2,
    "polygon": 2,
    "tetra10": 3,
    "hexahedron": 3,
    "hexahedron20": 3,
    "hexahedron27": 3,
    "wedge": 3,
    "pyramid": 3,
}
_GROUPS_PREFIX = "fem_prdp:groups="
_MESHIO_FORMAT = {".msh": "gmsh", ".vtu": "vtu", ".xdmf": "xdmf"}
_GMSH_TYPE = {0: 15, 1: 1, 2: 2, 3: 4}  # gmsh element type of the simplex of each dim


def _check_suffix(path: Path, verb: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise MeshError(
            f"{verb} {path}: unsupported file type {suffix or '(none)'}; "
            f"use one of {', '.join(SUPPORTED_SUFFIXES)}"
        )
    return suffix


def read_mesh(path: str | os.PathLike, *, repair: bool = False, require_boundaries: bool = True) -> Mesh:
    """Read and validate a simplex mesh.

    Args:
        path: a `.msh` (gmsh 2.2 or 4.1), `.vtu` or `.xdmf` file.
        repair: reorient inverted cells and drop unreferenced points, reporting what changed
            with a warning. Without it such a file raises `MeshError`.
        require_boundaries: raise when the file has no boundary physical groups.

    Raises:
        MeshError: the file is missing, is not a mesh, or fails validation; the message
            names the file, the problem and the offending ids.
    """
    path = Path(path)
    suffix = _check_suffix(path, "read_mesh")
    if not path.is_file():
        raise MeshError(f"read_mesh: no such file {path}")
    try:
        raw = quiet_meshio_read(path, _MESHIO_FORMAT[suffix])
    except (Exception, SystemExit) as exc:  # meshio raises many types (even exits) on garbage
        detail = "" if isinstance(exc, SystemExit) else f" ({type(exc).__name__}: {exc})"
        raise MeshError(f"read_mesh: {path} is not a readable {suffix} mesh file{detail}") from None
    mesh = from_meshio(raw, source=str(path))
    if repair:
        mesh, report = repair_mesh(mesh)
        if report:
            warnings.warn(f"read_mesh({path}): repaired: {'; '.join(report)}", stacklevel=2)
    return validate(mesh, require_boundaries=require_boundaries)


def quiet_meshio_read(path: Path, file_format: str | None = None) -> meshio.Mesh:
    """`meshio.read` without its console output (a blank line per gmsh file, "Error: ..."
    lines before it gives up) and warnings: our own message is the one a user sees."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        return meshio.read(path, file_format=file_format)


def _groups_from_marker(cell_data: dict) -> dict[str, list[int]]:
    for key in cell_data:
        if key.startswith(_GROUPS_PREFIX):
            out = {}
            for item in key[len(_GROUPS_PREFIX) :].split(";"):
                if item:
                    name, tag, dim = item.rsplit(":", 2)
                    out[name] = [int(tag), int(dim)]
            return out
    return {}


def from_meshio(raw: meshio.Mesh, source: str = "<meshio>") -> Mesh:
    """Convert a `meshio.Mesh` to a `Mesh` (no validation; see `validate`).

    The topological dimension is that of the highest simplex blocks; blocks one dimension
    lower carry the boundary facets (only those with a physical tag are kept).
    """
    blocks = list(raw.cells)
    if not blocks:
        raise MeshError(f"{source}: the file has no cells (is it a mesh?)")
    dims = [_DIM_OF_TYPE[b.type] for b in blocks if b.type in _DIM_OF_TYPE]
    bad = {b.type for b in blocks if b.type not in _DIM_OF_TYPE}
    top = max(dims) if dims else -1
    blocking = [t for t in bad if _NONLINEAR_OR_NONSIMPLEX.get(t, 99) >= max(top, 1)]
    if blocking:
        raise MeshError(
            f"{source}: unsupported cell types {sorted(blocking)}; fem_prdp needs linear "
            "simplices (lines, triangles, tetrahedra): remesh with gmsh "
            "(Mesh.ElementOrder = 1, no recombination)"
        )
    if top < 1:
        raise MeshError(f"{source}: no line, triangle or tetrahedron cells found")

    points = np.asarray(raw.points, dtype=np.float64)
    if points.shape[1] > top:
        extra = np.abs(points[:, top:]).max()
        scale = max(np.abs(points).max(), 1.0)
        group_dims = {int(np.asarray(v).ravel()[1]) for v in raw.field_data.values() if np.asarray(v).size >= 2}
        if extra > 1e-12 * scale and group_dims and (top - 1) not in group_dims:
            # gmsh saves only the elements of physical groups: a curve group alone leaves lines
            raise MeshError(
                f"{source}: only {top}D elements were saved, but the points span more dimensions: the file has "
                f"physical groups for its boundary but none for the domain itself; add one in gmsh (e.g. "
                f'Physical Surface("domain") = {{...}}; in a .geo file, or gmsh.model.addPhysicalGroup(2, ...)) '
                "and mesh again, or set Mesh.SaveAll = 1"
            )
        if extra > 1e-12 * scale:
            raise MeshError(
                f"{source}: mixed dimensions: {top}D cells in {points.shape[1]}D space with "
                f"non-zero coordinates beyond axis {top} (max |value| {extra:.3g}); "
                "fem_prdp needs planar 2D meshes in z = 0 and 1D meshes on the x axis"
            )
    elif points.shape[1] < top:
        raise MeshError(f"{source}: {top}D cells but only {points.shape[1]}D points")
    points = points[:, :top]

    field_data = {k: list(np.asarray(v).ravel()) for k, v in raw.field_data.items()}
    field_data.update(_groups_from_marker(raw.cell_data))
    tag_key = "gmsh:physical" if "gmsh:physical" in raw.cell_data else None

    cells, cell_tags, facets, facet_tags = [], [], [], []
    cell_fields: dict[str, list] = {}
    for i, block in enumerate(blocks):
        d = _DIM_OF_TYPE.get(block.type)
        tags = None if tag_key is None else np.asarray(raw.cell_data[tag_key][i]).ravel()
        data = np.asarray(block.data, dtype=np.int64).reshape(len(block.data), -1)
        if d == top:
            cells.append(data)
            cell_tags.append(tags if tags is not None else np.zeros(len(data), np.int64))
            for key, arrays in raw.cell_data.items():
                if key.startswith(("gmsh:", _GROUPS_PREFIX)):
                    continue
                cell_fields.setdefault(key, []).append(np.asarray(arrays[i]))
        elif d == top - 1 and tags is not None:
            keep = tags > 0
            facets.append(data[keep])
            facet_tags.append(tags[keep])

    def cat(parts, width, dtype=np.int64):
        return np.concatenate(parts) if parts else np.zeros((0, width) if width else 0, dtype)

    boundaries = {k: int(v[0]) for k, v in field_data.items() if int(v[1]) == top - 1}
    subdomains = {k: int(v[0]) for k, v in field_data.items() if int(v[1]) == top}
    cell_tag_arr = cat(cell_tags, 0)
    point_data = {
        k: torch.as_tensor(np.asarray(v)) for k, v in raw.point_data.items() if not k.startswith("gmsh:")
    }
    return Mesh(
        points=torch.as_tensor(points),
        cells=torch.as_tensor(cat(cells, top + 1)),
        facets=torch.as_tensor(cat(facets, top).reshape(-1, top)),
        facet_tags=torch.as_tensor(cat(facet_tags, 0).astype(np.int64)),
        boundaries=boundaries,
        cell_tags=torch.as_tensor(cell_tag_arr.astype(np.int64)) if tag_key else None,
        subdomains=subdomains,
        point_data=point_data,
        cell_data={k: torch.as_tensor(np.concatenate(v)) for k, v in cell_fields.items()},
        source=source,
    )


def write_mesh(mesh: Mesh, path: str | os.PathLike, *, msh_version: str = "4.1") -> Path:
    """Write `mesh` with its tags, names and point/cell fields; atomic (temp file + rename).

    Args:
        path: `.msh`, `.vtu` or `.xdmf` (chosen by suffix).
        msh_version: "4.1" or "2.2" for `.msh` files.
    """
    path = Path(path)
    suffix = _check_suffix(path, "write_mesh")
    if suffix == ".msh" and msh_version not in ("4.1", "2.2"):
        raise MeshError(f"write_mesh: msh_version must be '4.1' or '2.2', got {msh_version!r}")
    if suffix == ".msh" and msh_version == "2.2" and mesh.cell_data:
        # meshio 5.3 mis-splits $ElementData when reading msh 2.2, so such a file could
        # not be read back.
        raise MeshError(
            f"write_mesh({path}): cell fields {sorted(mesh.cell_data)} cannot be stored in "
            "msh 2.2 readably; use msh_version='4.1', .vtu or .xdmf, or drop the cell fields"
        )
    if suffix == ".xdmf" and mesh.dim == 1:
        # meshio 5.3 cannot read back vertex cells inside a mixed XDMF topology.
        raise MeshError(f"write_mesh({path}): 1D meshes cannot go to .xdmf; use .msh or .vtu")
    with atomic_path(path) as tmp:
        if suffix == ".msh":
            _write_msh_with_gmsh(mesh, tmp, msh_version)
        else:
            _write_meshio(mesh, tmp, suffix)
    return path


def _padded_points(mesh: Mesh) -> np.ndarray:
    pts = mesh.points.detach().cpu().numpy().astype(np.float64)
    return np.hstack([pts, np.zeros((len(pts), 3 - pts.shape[1]))])


def _cell_tags(mesh: Mesh) -> np.ndarray:
    if mesh.cell_tags is None:
        return np.ones(mesh.n_cells, dtype=np.int64)
    return as_index_array(mesh.cell_tags)


def _subdomains(mesh: Mesh) -> dict[str, int]:
    return dict(mesh.subdomains) if mesh.subdomains else {"domain": 1}


def _write_meshio(mesh: Mesh, path: Path, suffix: str) -> None:
    d = mesh.dim
    ftags = as_index_array(mesh.facet_tags)
    ctags = _cell_tags(mesh)
    groups = [f"{k}:{v}:{d - 1}" for k, v in mesh.boundaries.items()]
    groups += [f"{k}:{v}:{d}" for k, v in _subdomains(mesh).items()]
    marker = _GROUPS_PREFIX + ";".join(groups)
    cell_data = {
        "gmsh:physical": [ftags, ctags],
        marker: [np.zeros(mesh.n_facets, np.int32), np.zeros(mesh.n_cells, np.int32)],
    }
    for key, value in mesh.cell_data.items():
        v = value.detach().cpu().numpy()
        cell_data[key] = [np.zeros((mesh.n_facets, *v.shape[1:]), v.dtype), v]
    out = meshio.Mesh(
        _padded_points(mesh),
        [(FACET_TYPES[d], as_index_array(mesh.facets)), (CELL_TYPES[d], as_index_array(mesh.cells))],
        cell_data=cell_data,
        point_data={k: v.detach().cpu().numpy() for k, v in mesh.point_data.items()},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if suffix == ".vtu":
            meshio.write(path, out, file_format="vtu")
        else:  # inline XML data: one self-contained file that can be renamed atomically
            meshio.write(path, out, file_format="xdmf", data_format="XML")


def _write_msh_with_gmsh(mesh: Mesh, path: Path, version: str) -> None:
    from .gmsh_session import gmsh_session

    d = mesh.dim
    node_tags = np.arange(1, mesh.n_nodes + 1)
    facets = as_index_array(mesh.facets) + 1
    ftags = as_index_array(mesh.facet_tags)
    cells = as_index_array(mesh.cells) + 1
    ctags = _cell_tags(mesh)
    sub = _subdomains(mesh)
    # Element tags run facets first, then cells, in the order gmsh writes the entity blocks
    # (by dimension, then entity tag): readers that map element data by file position
    # (meshio) and by tag then agree.
    with gmsh_session() as gmsh:
        gmsh.model.add("fem_prdp")
        for i, _ in enumerate(np.unique(ctags)):
            gmsh.model.addDiscreteEntity(d, i + 1)
        gmsh.model.mesh.addNodes(d, 1, node_tags, _padded_points(mesh).ravel())
        next_elem = 1
        for j, (name, tag) in enumerate(mesh.boundaries.items()):
            sel = ftags == tag
            gmsh.model.addDiscreteEntity(d - 1, j + 1)
            etags = np.arange(next_elem, next_elem + int(sel.sum()))
            next_elem += len(etags)
            gmsh.model.mesh.addElementsByType(j + 1, _GMSH_TYPE[d - 1], etags, facets[sel].ravel())
            gmsh.model.addPhysicalGroup(d - 1, [j + 1], int(tag), name)
        order = np.argsort(ctags, kind="stable")
        cell_elem_tags = np.empty(mesh.n_cells, dtype=np.int64)
        cell_elem_tags[order] = np.arange(next_elem, next_elem + mesh.n_cells)
        for i, tag in enumerate(np.unique(ctags)):
            sel = np.nonzero(ctags == tag)[0]
            gmsh.model.mesh.addElementsByType(i + 1, _GMSH_TYPE[d], cell_elem_tags[sel], cells[sel].ravel())
            names = [k for k, v in sub.items() if v == tag]
            gmsh.model.addPhysicalGroup(d, [i + 1], int(tag), names[0] if names else "")
        gmsh.option.setNumber("Mesh.MshFileVersion", float(version))
        gmsh.option.setNumber("Mesh.Binary", 0)
        gmsh.option.setNumber("Mesh.SaveAll", 0)
        gmsh.write(str(path))
    # Fields go in $NodeData / $ElementData sections (same syntax in 2.2 and 4.1). gmsh's own
    # view export adds an interpolation scheme to element data that meshio cannot parse.
    with open(path, "a") as f:
        for name, value in {**mesh.point_data, **mesh.cell_data}.items():
            on_nodes = name in mesh.point_data
            arr = value.detach().cpu().numpy().astype(np.float64)
            arr = arr.reshape(len(arr), -1)
            if on_nodes:
                tags = node_tags
            else:  # meshio maps element data by position: cover every element, facets zero
                tags = np.arange(1, mesh.n_facets + mesh.n_cells + 1)
                full = np.zeros((len(tags), arr.shape[1]))
                full[cell_elem_tags - 1] = arr
                arr = full
            section = "NodeData" if on_nodes else "ElementData"
            f.write(f'${section}\n1\n"{name}"\n1\n0.0\n3\n0\n{arr.shape[1]}\n{len(arr)}\n')
            np.savetxt(f, np.column_stack([tags, arr]), fmt=["%d"] + ["%.17g"] * arr.shape[1])
            f.write(f"$End{section}\n")
