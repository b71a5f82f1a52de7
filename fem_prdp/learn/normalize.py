"""Online input/output normalisation, as mesh-GNN users expect (MeshGraphNets'
accumulating normaliser): statistics gathered during the first updates, then frozen."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Normalizer", "add_noise"]


class Normalizer(nn.Module):
    """Per-channel (x - mean) / std with statistics accumulated over `max_updates` batches.

    Shapes: x [..., channels]."""

    def __init__(self, channels: int, max_updates: int = 1000, eps: float = 1e-8):
        super().__init__()
        self.max_updates, self.eps = max_updates, eps
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("sum", torch.zeros(channels, dtype=torch.float64))
        self.register_buffer("sum_sq", torch.zeros(channels, dtype=torch.float64))
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        if int(self.updates) >= self.max_updates:
            return
        flat = x.detach().reshape(-1, x.shape[-1]).to(torch.float64)
        self.count += flat.shape[0]
        self.sum += flat.sum(0)
        self.sum_sq += (flat**2).sum(0)
        self.updates += 1

    def _stats(self, like: torch.Tensor):
        n = self.count.clamp(min=1)
        mean = self.sum / n
        std = torch.sqrt((self.sum_sq / n - mean**2).clamp(min=0)) + self.eps
        return mean.to(like), std.to(like)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(x)
        return (x - mean) / std

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(y)
        return y * std + mean


def add_noise(x: torch.Tensor, std: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """x + N(0, std^2) training noise (MeshGraphNets' remedy for rollout drift)."""
    if std < 0:
        raise ValueError(f"add_noise: std must be >= 0, got {std}")
    if std == 0:
        return x
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return x + std * noise
