"""Training data: random smooth initial conditions on a mesh and reference trajectories
from converged solves, cached to disk (atomic writes) and reused."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import torch

from .._fingerprint import content_fingerprint
from .._io import atomic_path

__all__ = ["random_fields", "reference_trajectories", "cached"]


def random_fields(points: torch.Tensor, n_samples: int, n_modes: int = 4, seed: int = 0,
                  amplitude: float = 1.0) -> torch.Tensor:
    """[n_samples, n_nodes] smooth random fields: sums of n_modes random sine products
    prod_d sin(k_d pi x_d + phase_d) with integer wave numbers 1..3 and decaying amplitudes,
    evaluated at points [n_nodes, dim]. Deterministic in `seed`."""
    g = torch.Generator().manual_seed(seed)
    n, dim = points.shape
    out = torch.zeros(n_samples, n, dtype=points.dtype)
    for m in range(n_modes):
        k = torch.randint(1, 4, (n_samples, dim), generator=g).to(points.dtype)
        phase = torch.rand(n_samples, dim, generator=g, dtype=points.dtype) * 2 * torch.pi
        amp = amplitude * torch.randn(n_samples, 1, generator=g, dtype=points.dtype) / (1 + m)
        out += amp * torch.prod(torch.sin(k[:, None, :] * torch.pi * points[None] + phase[:, None, :]), dim=-1)
    return out


def reference_trajectories(step: Callable[[torch.Tensor], torch.Tensor], u0: torch.Tensor, n_steps: int) -> torch.Tensor:
    """[n_samples, n_steps + 1, n] by repeated converged steps (no gradients)."""
    out = [u0]
    with torch.no_grad():
        for _ in range(n_steps):
            out.append(step(out[-1]))
    return torch.stack(out, dim=1)


def cached(cache_dir: str | os.PathLike, config: dict, build: Callable[[], torch.Tensor]) -> torch.Tensor:
    """Load the tensor built for `config` from cache_dir, or build and save it atomically.

    The file name is a content fingerprint of `config` (tensors in it hashed by value), so
    key the cache on what the data is made from (e.g. `mesh.fingerprint()`, settings),
    never on a path; the JSON config is stored beside it."""
    key = content_fingerprint(config)[:16]
    folder = Path(cache_dir)
    path = folder / f"data-{key}.pt"
    if path.exists():
        return torch.load(path, weights_only=True)
    folder.mkdir(parents=True, exist_ok=True)
    data = build()
    with atomic_path(path) as tmp:  # a killed run never leaves a truncated cache file
        torch.save(data, tmp)
    (folder / f"data-{key}.json").write_text(json.dumps(config, sort_keys=True, default=str, indent=1))
    return data
