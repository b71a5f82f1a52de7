"""Surrogates on plain torch: the MLP building block and an MLP on the nodal values of a
fixed mesh (the graph networks are in `gnn.py`, which needs PyTorch Geometric)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["mlp", "FieldMLP"]


def mlp(n_in: int, n_out: int, width: int, depth: int, layer_norm: bool = False,
        activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """depth hidden layers of `width` with `activation`, then a linear output layer
    (followed by LayerNorm when `layer_norm`, as in MeshGraphNets' encoders/processors)."""
    if depth < 0 or width < 1:
        raise ValueError(f"mlp: need depth >= 0 and width >= 1, got depth={depth}, width={width}")
    layers: list[nn.Module] = []
    size = n_in
    for _ in range(depth):
        layers += [nn.Linear(size, width), activation()]
        size = width
    layers.append(nn.Linear(size, n_out))
    if layer_norm:
        layers.append(nn.LayerNorm(n_out))
    return nn.Sequential(*layers)


class FieldMLP(nn.Module):
    """MLP from the nodal values of one mesh to nodal values on it (the paper's surrogate:
    e.g. 30-64-64-64-30 for the 1D heat case).

    Shapes:
        input [..., n_in]; output [..., n_out].
    """

    def __init__(self, n_in: int, n_out: int | None = None, width: int = 64, depth: int = 3,
                 residual: bool = False):
        super().__init__()
        if residual and (n_out or n_in) != n_in:
            raise ValueError("FieldMLP: residual=True needs n_out == n_in")
        self.net = mlp(n_in, n_out or n_in, width, depth)
        self.residual = residual

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """u + net(u) when residual (the network learns the increment), else net(u)."""
        return u + self.net(u) if self.residual else self.net(u)
