"""Large CPU tensors on freed memory instead of fresh pages: glibc's malloc, tuned.

glibc serves a block above its mmap threshold (at most 32 MB by default) with a fresh
mapping and unmaps it on free, so a tensor that size allocated again on every training
step or solve is page-faulted in again each time (~0.45 ms per MB here, in the kernel).
Measured on this project's 2-core machine:
- a plain PyTorch loop (zero_grad, forward, backward, fused Adam) on the heat-2D paper's
  MLP (900-3000x3-900, float32, batch 25): 109 ms a step, 54 ms of it in the kernel (19k
  page faults); with the thresholds raised, 64-70 ms and 0.7 ms;
- `fem-prdp bench training`, the MLP's step: float64 425 -> 266 ms, float32 92 -> 85 ms;
  the MeshGraphNet's and the paper case's PRDP run: no change beyond noise;
- a forward + backward solve at 512k nodes: 0.1 s less in the kernel; wall times within
  the noise of each other (Jacobi's forward perhaps slower: 2.57-2.99 vs 2.33-2.69 s).
The price is that freed memory stays with the process until it exits, up to `limit_bytes`
at the top of the heap. The peak resident set of a forward + backward at 512k nodes rose
1-5% for fem_prdp and 25-36% for torch-fem (fragmentation). Commands and figures in
experiments/RESULTS.md.
"""

from __future__ import annotations

import ctypes
import platform
import sys

__all__ = ["reuse_freed_memory"]

# mallopt parameters from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def reuse_freed_memory(limit_bytes: int = 1 << 30) -> bool:
    """Make this process's large CPU allocations reuse freed heap memory (glibc only).

    Blocks below `limit_bytes` come from the heap rather than from fresh mappings. Freed
    memory is returned to the system only when more than `limit_bytes` of it sits at the
    top of the heap. This is process-wide and lasts until the process exits; call it once,
    early. The `fem-prdp` command calls it unless FEM_PRDP_MALLOC=system is set.

    Args:
        limit_bytes: both thresholds, in bytes, 1 to 2**31 - 1 (default 1 GiB).

    Returns:
        True when glibc took both settings; False elsewhere (macOS, Windows, musl), where
        nothing is changed.
    """
    if not isinstance(limit_bytes, int) or not 0 < limit_bytes < 2**31:
        raise ValueError(f"limit_bytes must be an int in [1, 2**31 - 1], got {limit_bytes!r}")
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # the mmap threshold first: setting either one also turns off glibc's adaptive threshold
    return bool(mallopt(_M_MMAP_THRESHOLD, limit_bytes)) and bool(mallopt(_M_TRIM_THRESHOLD, limit_bytes))
