"""Mesh to graph: the one conversion surrogates use (PyTorch Geometric conventions)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .._extras import require
from ..mesh import Mesh

if TYPE_CHECKING:
    from torch_geometric.data import Data

__all__ = ["mesh_to_graph", "space_to_graph", "node_types"]


def node_types(mesh: Mesh, boundary_names: list[str] | None = None) -> torch.Tensor:
    """[n_nodes, 1 + len(names)] float one-hot node type: column 0 interior, column 1 + i
    boundary `names[i]` (default: all of the mesh's boundaries, sorted). A node on several
    boundaries takes the last of them in `names` order (the same rule as overlapping
    Dirichlet conditions)."""
    names = sorted(mesh.boundaries) if boundary_names is None else list(boundary_names)
    kind = torch.zeros(mesh.n_nodes, dtype=torch.long)
    for i, name in enumerate(names):
        kind[mesh.boundary_nodes(name)] = i + 1
    return torch.nn.functional.one_hot(kind, 1 + len(names)).to(mesh.points.dtype)


def mesh_to_graph(mesh: Mesh, x: torch.Tensor | None = None, boundary_names: list[str] | None = None,
                  dtype: torch.dtype | None = None) -> Data:
    """A `torch_geometric.data.Data` graph of the mesh's edges, both directions.

    Args:
        mesh: any `Mesh` (1D-3D).
        x: optional node features [n_nodes, F].
        boundary_names: the boundary groups to one-hot (default: all, sorted).

    Returns:
        Data with `edge_index` [2, 2 n_edges] (source, target), `edge_attr`
        [2 n_edges, dim + 1] (relative position x_target - x_source and its length, as in
        MeshGraphNets), `node_type` [n_nodes, n_types], `pos` [n_nodes, dim], and `x`.
    """
    dtype = dtype or mesh.points.dtype
    data = _graph(mesh.edges(), mesh.points.to(dtype), node_types(mesh, boundary_names).to(dtype))
    if x is not None:
        if x.shape[0] != mesh.n_nodes:
            raise ValueError(f"mesh_to_graph: x has {x.shape[0]} rows, expected n_nodes = {mesh.n_nodes}")
        data.x = x
    return data


def space_to_graph(V, boundary_names: list[str] | None = None) -> Data:
    """The graph of a `FunctionSpace`'s scalar dofs: one node per dof (at `V.dof_points`),
    an edge between every two dofs of a cell (for P1: the mesh's edges; for P2 also the
    edge midpoints, so a surrogate sees every value the solver has), node types from the
    boundaries as in `node_types`. Same layout as `mesh_to_graph`.

    A vector field on V is `V.n_components` values per node (component-major in the
    state: `GraphFieldModel(..., channels=...)`)."""
    if V.periodic:
        raise ValueError("space_to_graph: periodic spaces are not supported (the edges across the identified "
                         "boundaries would carry the period as their length); build the space without `periodic`")
    names = sorted(V.mesh.boundaries) if boundary_names is None else list(boundary_names)
    cells = V.scalar_cell_dofs.cpu()
    i, j = torch.triu_indices(cells.shape[1], cells.shape[1], offset=1)
    pairs = torch.stack([cells[:, i].reshape(-1), cells[:, j].reshape(-1)])
    edges = torch.unique(torch.sort(pairs, dim=0).values, dim=1)  # each undirected edge once
    kind = torch.zeros(V.n_scalar_dofs, dtype=torch.long)
    for k, name in enumerate(names):
        kind[V.boundary_dofs(name, component=0).cpu()] = k + 1
    pos = V.dof_points.cpu()
    return _graph(edges, pos, torch.nn.functional.one_hot(kind, 1 + len(names)).to(pos.dtype)).to(V.device)


def _graph(edges: torch.Tensor, pos: torch.Tensor, node_type: torch.Tensor) -> Data:
    """Data from undirected edges [2, E] (both directions), positions and node types."""
    Data = require("torch_geometric.data", "gnn", "graphs for the GNN surrogate").Data
    edge_index = torch.cat([edges, edges.flip(0)], dim=1)
    rel = pos[edge_index[1]] - pos[edge_index[0]]
    edge_attr = torch.cat([rel, rel.norm(dim=1, keepdim=True)], dim=1)
    return Data(edge_index=edge_index, edge_attr=edge_attr, pos=pos, node_type=node_type, num_nodes=pos.shape[0])
