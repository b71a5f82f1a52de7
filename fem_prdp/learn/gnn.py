"""A mesh GNN in the MeshGraphNets mould (encode-process-decode, residual message passing,
LayerNorm, sum aggregation) on torch_geometric's `MessagePassing`, no compiled extensions
needed. Needs the `gnn` extra (`pip install "fem_prdp[gnn]"`); `fem_prdp.learn` imports
this module only when one of its names is used."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.data import Data
from torch_geometric.nn import MessagePassing

from .models import mlp

__all__ = ["MeshGraphNet", "GraphFieldModel"]


class _GraphNetBlock(MessagePassing):
    """Edge update e' = e + f([e, h_src, h_dst]); node update h' = h + g([h, sum e'])."""

    def __init__(self, width: int, depth: int):
        super().__init__(aggr="sum")
        self.edge_mlp = mlp(3 * width, width, width, depth, layer_norm=True)
        self.node_mlp = mlp(2 * width, width, width, depth, layer_norm=True)

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, e: torch.Tensor):
        src, dst = edge_index
        e_new = e + self.edge_mlp(torch.cat([e, h[src], h[dst]], dim=-1))
        agg = self.propagate(edge_index, e=e_new, size=(h.shape[0], h.shape[0]))
        return h + self.node_mlp(torch.cat([h, agg], dim=-1)), e_new

    def message(self, e: torch.Tensor) -> torch.Tensor:
        return e


class MeshGraphNet(nn.Module):
    """Encode-process-decode GNN on a mesh graph (Pfaff et al. 2021).

    Args:
        n_node_in: node input features (state channels + node-type one-hot).
        n_edge_in: edge features (dim + 1 from `mesh_to_graph`).
        n_out: output channels per node.
        width: latent size (MeshGraphNets: 128). steps: message-passing steps (15).
        mlp_depth: hidden layers per MLP (2).

    Shapes:
        data.x [n_nodes, n_node_in] (a PyG `Batch` stacks several graphs), data.edge_attr
        [n_edges, n_edge_in], data.edge_index [2, n_edges] -> [n_nodes, n_out].
    """

    def __init__(self, n_node_in: int, n_edge_in: int, n_out: int, width: int = 64, steps: int = 4,
                 mlp_depth: int = 2):
        super().__init__()
        self.node_encoder = mlp(n_node_in, width, width, mlp_depth, layer_norm=True)
        self.edge_encoder = mlp(n_edge_in, width, width, mlp_depth, layer_norm=True)
        self.blocks = nn.ModuleList(_GraphNetBlock(width, mlp_depth) for _ in range(steps))
        self.decoder = mlp(width, n_out, width, mlp_depth)

    def forward(self, data: Data) -> torch.Tensor:
        h = self.node_encoder(data.x)
        e = self.edge_encoder(data.edge_attr)
        for block in self.blocks:
            h, e = block(h, data.edge_index, e)
        return self.decoder(h)


class GraphFieldModel(nn.Module):
    """A `MeshGraphNet` on one fixed mesh as a field-to-field map, so it drops into the same
    training setups as `FieldMLP`: input u [B, channels * n_nodes] (or unbatched) -> the
    same shape. A state with several values per node (a velocity, Burgers' components) is
    component-major, as the solvers store it: value c of node i at c * n_nodes + i.
    Node inputs are the node's `channels` values and its type one-hot; the output is the
    increment (u + net) when `residual`. The batched graph is built once per batch size.

    As in MeshGraphNets: `normalize` standardises the state with statistics accumulated
    during the first training batches (then frozen, saved with the model), and
    `noise_std` > 0 adds Gaussian noise to the input state in training mode (the residual
    then starts from the noisy state, so the network learns to undo the noise)."""

    def __init__(self, graph: Data, width: int = 64, steps: int = 4, mlp_depth: int = 2, residual: bool = True,
                 normalize: bool = False, noise_std: float = 0.0, channels: int = 1):
        super().__init__()
        from .normalize import Normalizer

        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"GraphFieldModel: channels must be a positive int, got {channels!r}")
        self.graph, self.channels = graph, channels
        n_types = graph.node_type.shape[1]
        self.net = MeshGraphNet(channels + n_types, graph.edge_attr.shape[1], channels, width, steps, mlp_depth)
        self.residual = residual
        self.normalizer = Normalizer(channels) if normalize else None
        if noise_std < 0:
            raise ValueError(f"GraphFieldModel: noise_std must be >= 0, got {noise_std}")
        self.noise_std = noise_std
        # (id(graph), batch) -> (graph, batched graph); holding the graph keeps its id unique.
        self._batched: dict[tuple[int, int], tuple[Data, Data]] = {}

    def _batch(self, graph: Data, b: int) -> Data:
        key = (id(graph), b)
        if key not in self._batched:
            g, n = graph, graph.num_nodes
            if g.node_type.shape[1] != self.graph.node_type.shape[1]:
                raise ValueError(f"GraphFieldModel: the graph has {g.node_type.shape[1]} node types, the model was "
                                 f"built for {self.graph.node_type.shape[1]}; pass the same boundary_names to "
                                 "mesh_to_graph for every mesh")
            offsets = (torch.arange(b, device=g.edge_index.device) * n).repeat_interleave(g.edge_index.shape[1])
            self._batched[key] = (g, Data(edge_index=g.edge_index.repeat(1, b) + offsets,
                                          edge_attr=g.edge_attr.repeat(b, 1), node_type=g.node_type.repeat(b, 1),
                                          num_nodes=b * n))
        return self._batched[key][1]

    def forward(self, u: torch.Tensor, graph: Data | None = None) -> torch.Tensor:
        """u [channels * n] or [B, channels * n] on the model's graph, or on `graph` (another
        mesh with the same node types: the weights are shared, so one model serves a family
        of meshes)."""
        from .normalize import add_noise

        graph = self.graph if graph is None else graph
        single = u.ndim == 1
        U = u.unsqueeze(0) if single else u
        if self.training and self.noise_std > 0:
            U = add_noise(U, self.noise_std)
        b, c, n = U.shape[0], self.channels, graph.num_nodes
        if U.shape[1] != c * n:
            raise ValueError(f"GraphFieldModel: the state has {U.shape[1]} values, the graph {n} nodes x {c} "
                             f"channel{'s' if c > 1 else ''} = {c * n}")
        base = self._batch(graph, b)
        x = U.reshape(b, c, n).transpose(1, 2).reshape(b * n, c)  # node-major rows, as PyG batches
        if self.normalizer is not None:
            if self.training:
                self.normalizer.update(x)
            x = self.normalizer(x)
        data = Data(x=torch.cat([x, base.node_type.to(U)], dim=1), edge_index=base.edge_index,
                    edge_attr=base.edge_attr.to(U))
        out = self.net(data).reshape(b, n, c).transpose(1, 2).reshape(b, c * n)
        out = U + out if self.residual else out
        return out[0] if single else out
