"""Mesh validation and explicit repair.

`validate` raises one `MeshError` that lists every problem found, with the offending ids;
it never changes the mesh. `repair` fixes what can be fixed safely (unreferenced points,
inverted cells) and returns a report of what it changed.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from .mesh import Mesh, MeshError, all_facets, as_index_array, simplex_volumes

__all__ = ["validate", "repair", "find_problems"]

# A cell is degenerate when |volume| <= DEGENERATE_TOL * (longest edge)^dim.
DEGENERATE_TOL = 1e-10
# Points closer than DUPLICATE_TOL * (bounding-box diagonal) are duplicates.
DUPLICATE_TOL = 1e-9


def _ids(ids: np.ndarray, limit: int = 10) -> str:
    ids = np.asarray(ids).ravel()
    shown = ", ".join(str(int(i)) for i in ids[:limit])
    return shown + (f", ... ({len(ids)} in all)" if len(ids) > limit else "")


def _row_keys(a: np.ndarray) -> np.ndarray:
    """Rows of an int array as hashable void scalars (for set operations on rows)."""
    a = np.ascontiguousarray(a)
    return a.view(np.dtype((np.void, a.dtype.itemsize * a.shape[1]))).ravel()


def find_problems(mesh: Mesh, require_boundaries: bool = True) -> list[str]:
    """All problems found in `mesh`, one sentence each (empty list: the mesh is valid)."""
    problems: list[str] = []
    pts = mesh.points.detach().cpu().numpy()
    cells = as_index_array(mesh.cells)
    n = mesh.n_nodes

    bad_pts = np.nonzero(~np.isfinite(pts).all(axis=1))[0]
    if len(bad_pts):
        problems.append(f"non-finite coordinates at points {_ids(bad_pts)}")
    if mesh.n_cells == 0:
        problems.append("the mesh has no cells")
        return problems
    out_of_range = np.nonzero(((cells < 0) | (cells >= n)).any(axis=1))[0]
    if len(out_of_range):
        problems.append(f"cells {_ids(out_of_range)} reference point ids outside 0..{n - 1}")
        return problems  # geometry checks below would index out of range
    facets = as_index_array(mesh.facets)
    if facets.size and ((facets < 0) | (facets >= n)).any():
        bad = np.nonzero(((facets < 0) | (facets >= n)).any(axis=1))[0]
        problems.append(f"boundary facets {_ids(bad)} reference point ids outside 0..{n - 1}")
        return problems

    sorted_cells = np.sort(cells, axis=1)
    repeated = np.nonzero((sorted_cells[:, 1:] == sorted_cells[:, :-1]).any(axis=1))[0]
    if len(repeated):
        problems.append(f"cells {_ids(repeated)} repeat a vertex (collapsed simplices)")

    vol = simplex_volumes(mesh.points, mesh.cells, signed=True).cpu().numpy()
    p = pts[cells]
    edges = [
        np.linalg.norm(p[:, a] - p[:, b], axis=1)
        for a in range(cells.shape[1])
        for b in range(a + 1, cells.shape[1])
    ]
    longest = np.max(edges, axis=0)
    degenerate = np.abs(vol) <= DEGENERATE_TOL * longest**mesh.dim
    if degenerate.any():
        problems.append(
            f"degenerate (zero-{['length', 'area', 'volume'][mesh.dim - 1]}) cells "
            f"{_ids(np.nonzero(degenerate)[0])}; remove them or remesh"
        )
    inverted = (vol < 0) & ~degenerate
    if inverted.any():
        problems.append(
            f"inverted (negatively oriented) cells {_ids(np.nonzero(inverted)[0])}; "
            "load with repair=True (or call fem_prdp.mesh.repair) to reorient them"
        )

    if n:
        diag = float(np.linalg.norm(pts.max(axis=0) - pts.min(axis=0))) or 1.0
        q = np.round(pts / (DUPLICATE_TOL * diag)).astype(np.int64)
        _, first, inverse, counts = np.unique(
            q, axis=0, return_index=True, return_inverse=True, return_counts=True
        )
        dup_groups = np.nonzero(counts > 1)[0]
        if len(dup_groups):
            members = np.nonzero(np.isin(inverse.ravel(), dup_groups))[0]
            problems.append(
                f"{len(members)} duplicate points (same coordinates): ids {_ids(members)}; "
                "merge them in the mesh generator (gmsh: Coherence / removeDuplicateNodes)"
            )

    referenced = np.zeros(n, dtype=bool)
    referenced[cells.ravel()] = True
    unref = np.nonzero(~referenced)[0]
    if len(unref):
        problems.append(
            f"unreferenced points {_ids(unref)} (not used by any cell); load with "
            "repair=True (or call fem_prdp.mesh.repair) to drop them"
        )

    if facets.size:
        cell_faces = np.sort(as_index_array(all_facets(mesh.cells)), axis=1)
        sorted_facets = np.sort(facets, axis=1)
        stray = np.nonzero(~np.isin(_row_keys(sorted_facets), _row_keys(cell_faces)))[0]
        if len(stray):
            problems.append(
                f"mixed dimensions: boundary elements {_ids(stray)} are not facets of any "
                f"{mesh.dim}D cell (a lower-dimensional entity that is not on the mesh)"
            )

    if require_boundaries and not mesh.boundaries:
        problems.append(
            "no boundary physical groups: name the boundaries in gmsh (e.g. "
            'Physical Curve("inlet") = {...}; in a .geo file, or '
            "gmsh.model.addPhysicalGroup(dim-1, tags, name=...)) so conditions can refer to them"
        )
    unused = [k for k, t in mesh.boundaries.items() if not (mesh.facet_tags == t).any()]
    if unused:
        problems.append(f"boundary physical groups with no facets: {', '.join(unused)}")
    return problems


def validate(mesh: Mesh, require_boundaries: bool = True) -> Mesh:
    """Raise `MeshError` listing every problem in `mesh`; return the mesh unchanged if valid."""
    problems = find_problems(mesh, require_boundaries=require_boundaries)
    if problems:
        lines = "\n  - ".join(problems)
        raise MeshError(f"invalid mesh {mesh.source}:\n  - {lines}")
    return mesh


def repair(mesh: Mesh) -> tuple[Mesh, list[str]]:
    """Drop unreferenced points and reorient inverted cells.

    Returns:
        (repaired mesh, report): the report says what changed, one line per kind of fix
        (empty when nothing needed fixing). Degenerate cells and duplicate points are not
        repaired: they need a remesh.
    """
    report: list[str] = []
    cells = mesh.cells.clone()
    vol = simplex_volumes(mesh.points, cells, signed=True)
    inverted = vol < 0
    if bool(inverted.any()):
        # Swapping the last two vertices flips the orientation.
        cells[inverted, -2:] = cells[inverted].flip(1)[:, :2]
        report.append(f"reoriented {int(inverted.sum())} inverted cells")

    referenced = torch.zeros(mesh.n_nodes, dtype=torch.bool)
    referenced[cells.reshape(-1)] = True
    n_unref = int((~referenced).sum())
    points, facets, facet_tags = mesh.points, mesh.facets, mesh.facet_tags
    point_data = mesh.point_data
    if n_unref:
        new_id = torch.cumsum(referenced.long(), 0) - 1
        points = points[referenced]
        cells = new_id[cells]
        keep = referenced[facets].all(dim=1) if facets.numel() else torch.ones(0, dtype=bool)
        facets, facet_tags = new_id[facets[keep]], facet_tags[keep]
        point_data = {k: v[referenced] for k, v in point_data.items()}
        report.append(f"dropped {n_unref} unreferenced points")
    repaired = replace(
        mesh,
        points=points,
        cells=cells,
        facets=facets,
        facet_tags=facet_tags,
        point_data=point_data,
    )
    return repaired, report
