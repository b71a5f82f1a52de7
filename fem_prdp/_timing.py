"""Wall-clock medians for the benchmark commands (shared by every layer's bench module)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

__all__ = ["median_time", "median_backward_time", "median_forward_backward", "synchronize"]


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


def median_forward_backward(make_loss: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    """(forward s, backward s, backward / forward): medians over `repeats` rounds (after a
    warm-up round), each round timing `make_loss()` (the forward that records the graph)
    and then that loss's `backward()`. The ratio is the median of the rounds' own ratios:
    forward and backward alternate, so a slow spell of the shared machine lands on both
    sides of a ratio instead of on all the forwards or all the backwards (timed in separate
    loops, a Jacobi-PCG solve's backward / forward at 512k nodes swung between 0.84 and
    1.10 from run to run)."""

    def once() -> tuple[float, float]:
        synchronize()
        t0 = time.perf_counter()
        loss = make_loss()
        synchronize()
        t1 = time.perf_counter()
        loss.backward()
        synchronize()
        return t1 - t0, time.perf_counter() - t1

    once()
    rounds = [once() for _ in range(max(repeats, 1))]
    return (statistics.median(f for f, _ in rounds), statistics.median(b for _, b in rounds),
            statistics.median(b / f for f, b in rounds))
