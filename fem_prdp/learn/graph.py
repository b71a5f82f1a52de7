"""Mesh to graph: the one conversion surrogates use (PyTorch Geometric conventions)."""

from __future__ import annotations

import torch
from torch_geometric.data import Data

from ..mesh import Mesh

__all__ = ["mesh_to_graph", "node_types"]


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
    e = mesh.edges()
    edge_index = torch.cat([e, e.flip(0)], dim=1)
    pos = mesh.points.to(dtype)
    rel = pos[edge_index[1]] - pos[edge_index[0]]
    edge_attr = torch.cat([rel, rel.norm(dim=1, keepdim=True)], dim=1)
    data = Data(edge_index=edge_index, edge_attr=edge_attr, pos=pos,
                node_type=node_types(mesh, boundary_names).to(dtype), num_nodes=mesh.n_nodes)
    if x is not None:
        if x.shape[0] != mesh.n_nodes:
            raise ValueError(f"mesh_to_graph: x has {x.shape[0]} rows, expected n_nodes = {mesh.n_nodes}")
        data.x = x
    return data
