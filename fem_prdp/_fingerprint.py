"""Content fingerprints: what a checkpoint or a data cache was made from, by value.

A run resumes only when everything that shapes it is what it was (the trainer compares
fingerprints); a data cache is found by the content of what built it, never by a path
(another mesh written to the same file must not reuse old data).
"""

from __future__ import annotations

import hashlib
import json

import torch

__all__ = ["content_fingerprint", "describe_differences"]


def _feed(h, obj) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"tensor {t.dtype} {tuple(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(obj, (tuple, list)):
        h.update(f"{type(obj).__name__} {len(obj)};".encode())
        for item in obj:
            _feed(h, item)
    elif isinstance(obj, dict):
        h.update(f"dict {len(obj)};".encode())
        for key in sorted(obj, key=str):
            h.update(f"{key!s}:".encode())
            _feed(h, obj[key])
    elif isinstance(obj, torch.utils.data.DataLoader):
        h.update(f"DataLoader batch_size={obj.batch_size};".encode())
        _feed(h, obj.dataset)
    elif isinstance(obj, torch.utils.data.TensorDataset):
        _feed(h, obj.tensors)
    elif isinstance(obj, torch.utils.data.Dataset):
        # Any other dataset: hashed item by item (pass a cheaper fingerprint of your own
        # to the trainer if yours is large and its items are costly to load).
        n = len(obj)
        h.update(f"{type(obj).__qualname__} {n};".encode())
        for i in range(n):
            _feed(h, obj[i])
    else:
        h.update(json.dumps(obj, sort_keys=True, default=repr).encode())


def content_fingerprint(obj) -> str:
    """A SHA-256 hex digest of tensors (dtype, shape and bytes), numbers, strings and
    containers of them, datasets and data loaders."""
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()


def describe_differences(old: dict, new: dict, prefix: str = "", limit: int = 3) -> str:
    """'lr: 0.002 -> 0.01; data: changed' for the keys where two fingerprints differ."""
    parts = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key, "<none>"), new.get(key, "<none>")
        if a == b:
            continue
        name = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            parts.append(describe_differences(a, b, f"{name}.", limit))
        elif isinstance(a, str) and len(a) > 40 or isinstance(b, str) and len(b) > 40:
            parts.append(f"{name}: changed")
        else:
            parts.append(f"{name}: {a!r} -> {b!r}")
    parts = [p for p in parts if p]
    more = f"; and {len(parts) - limit} more" if len(parts) > limit else ""
    return "; ".join(parts[:limit]) + more
