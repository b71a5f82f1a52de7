"""Wall-clock medians for the benchmark commands (shared by every layer's bench module)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

__all__ = ["median_time", "median_backward_time", "synchronize"]


def synchronize() -> None:
    """Wait for queued GPU work (CUDA launches are asynchronous: without this a timer
    measures the launch). Nothing to do on the CPU."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def median_time(fn: Callable[[], object], repeats: int, warmup: bool = True) -> float:
    """Median seconds of `repeats` calls of fn (after one untimed warm-up call)."""
    if warmup:
        fn()
    times = []
    for _ in range(max(repeats, 1)):
        synchronize()
        t0 = time.perf_counter()
        fn()
        synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def median_backward_time(make_loss: Callable[[], object], repeats: int) -> float:
    """Median seconds of one `loss.backward()` over `repeats` calls (after a warm-up).

    `make_loss` runs the forward pass that records the graph; it is not timed. (Timing
    forward + backward and subtracting the forward's median swung by more than the
    backward itself on this shared machine.)"""

    def once() -> float:
        loss = make_loss()
        synchronize()
        t0 = time.perf_counter()
        loss.backward()
        synchronize()
        return time.perf_counter() - t0

    once()
    return statistics.median(once() for _ in range(max(repeats, 1)))
