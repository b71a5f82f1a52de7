"""`fem-prdp bench solvers`: time per iteration against scipy and the bandwidth floor.

All numbers come from one run on one machine: medians over repeats, ratios taken within
the run. The floor of a Jacobi-PCG iteration is the bytes a fused iteration must move
(12 per stored non-zero + 4 per row for the int32 CSR matrix, plus 13 vector passes of 8
bytes: the SpMV reads p and writes Ap; the update reads x, r, p, Ap, 1/diag and writes x, r;
the direction update reads r, 1/diag, p and writes p) divided by the streaming read
bandwidth measured here on a buffer of the same size. A symmetric matrix is stored by the
fused loop as its diagonal and lower half (`symmetric.SymmetricLayout`: two row arrays);
its floor counts those entries (`fused_storage`), the floor of plain CSR is given beside
it. With B right-hand sides the matrix is read once for all of them, so the floor per
right-hand side is (matrix bytes / B + vector bytes): `rhs16_floor_per_rhs_vs_1` is the
best ratio any implementation could reach.

"ours" is whatever `solve` runs (the fused native loop where it applies); the torch-only
path is timed in the same run as `torch_path_s_per_iter`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse.linalg as sla
import torch

from .._timing import median_backward_time, median_time
from . import native
from .krylov import CG
from .precond import Jacobi
from .solve import solve
from .sparse import SparseMatrix
from .stencils import laplacian

__all__ = ["bench_solvers"]


def read_bandwidth(n_bytes: int, repeats: int, device="cpu") -> float:
    """Streaming read bandwidth (bytes/s) over a buffer of n_bytes (sum of float64s)."""
    buf = torch.ones(max(n_bytes // 8, 1), dtype=torch.float64, device=device)
    return buf.numel() * 8 / median_time(lambda: buf.sum(), repeats)


def floor_bytes(nnz: int, n: int, rhs: int = 1, row_arrays: int = 1) -> int:
    """Bytes one fused Jacobi-PCG iteration must move (see the module docstring): `nnz`
    stored entries, `row_arrays` int32 arrays over the rows, `rhs` right-hand sides."""
    return 12 * nnz + 4 * row_arrays * (n + 1) + 13 * 8 * n * rhs


def fused_storage(A: SparseMatrix) -> tuple[int, int]:
    """(stored entries, row arrays) that the fused Jacobi-CG loop reads for A: its symmetric
    layout's when it takes one (symmetric values, the kernels usable here), else A's CSR."""
    values = A.values.detach()
    layout = A.pattern.symmetric_layout() if native.usable(values) else None
    if layout is not None and layout.values(values) is not None:
        return layout.col.numel(), 2
    return A.pattern.nnz, 1


def _bench_matrix(name: str, S, iters: int, repeats: int, device) -> dict:
    A = SparseMatrix.from_scipy(S, device=device)
    n, nnz = A.shape[0], A.pattern.nnz
    b = torch.ones(n, dtype=torch.float64, device=device)
    P = Jacobi(A)
    ours = median_time(lambda: solve(A, b, CG(rtol=0.0, max_iters=iters), P), repeats) / iters
    with native.enabled(False):
        torch_path = median_time(lambda: solve(A, b, CG(rtol=0.0, max_iters=iters), P), repeats) / iters
    inv_d = 1.0 / S.diagonal()
    M = sla.LinearOperator(S.shape, matvec=lambda r: inv_d * r, dtype=np.float64)
    bn = b.cpu().numpy()
    scipy_t = median_time(lambda: sla.cg(S, bn, rtol=1e-300, atol=0.0, maxiter=iters, M=M), repeats) / iters
    x = torch.ones(n, dtype=torch.float64, device=device)
    spmv_t = median_time(lambda: A.matvec(x), repeats * 5)
    spmv_scipy = median_time(lambda: S @ bn, repeats * 5)
    stored, row_arrays = fused_storage(A)
    floor_b = floor_bytes(stored, n, row_arrays=row_arrays)
    bw = read_bandwidth(floor_b, repeats * 3, device)
    floor_t = floor_b / bw
    multi = {}
    for k in (1, 4, 16):
        B = torch.ones(k, n, dtype=torch.float64, device=device)
        t = median_time(lambda B=B: solve(A, B, CG(rtol=0.0, max_iters=iters), P), repeats) / iters
        multi[str(k)] = {"seconds_per_iter": t, "seconds_per_iter_per_rhs": t / k}
    return {
        "matrix": name,
        "n": n,
        "nnz": nnz,
        "jacobi_pcg_s_per_iter": ours,
        "torch_path_s_per_iter": torch_path,
        "scipy_jacobi_pcg_s_per_iter": scipy_t,
        "speedup_vs_scipy": scipy_t / ours,
        "stored_entries": stored,
        "floor_bytes_per_iter": floor_b,
        "csr_floor_bytes_per_iter": floor_bytes(nnz, n),
        "read_bandwidth_GBps": bw / 1e9,
        "floor_s_per_iter": floor_t,
        "ratio_to_floor": ours / floor_t,
        "spmv_s": spmv_t,
        "scipy_spmv_s": spmv_scipy,
        "multi_rhs": multi,
        "rhs16_cost_per_rhs_vs_1": multi["16"]["seconds_per_iter_per_rhs"]
        / multi["1"]["seconds_per_iter_per_rhs"],
        "rhs16_floor_per_rhs_vs_1": floor_bytes(stored, n, 16, row_arrays) / 16 / floor_b,
    }


def _saved_bytes(fn) -> int:
    """Bytes autograd keeps for backward while `fn` runs (memory that grows with K)."""
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return total, out


def _bench_gradients(S, ks, repeats: int, device) -> list[dict]:
    A = SparseMatrix.from_scipy(S, device=device)
    rows = []
    for k in ks:
        for mode in ("unrolled", "implicit"):
            vals = A.values.clone().requires_grad_(True)
            b = torch.ones(A.shape[0], dtype=torch.float64, device=device, requires_grad=True)

            def forward(mode=mode, k=k, vals=vals, b=b):
                Av = A.with_values(vals)
                return solve(Av, b, CG(rtol=0.0, max_iters=k), Jacobi(Av), grad=mode)[0]

            saved, x = _saved_bytes(forward)
            fwd = median_time(forward, repeats)
            bwd = median_backward_time(lambda f=forward: f().sum(), repeats)
            rows.append(
                {
                    "K": k,
                    "grad": mode,
                    "forward_s": fwd,
                    "backward_s": bwd,
                    "backward_over_forward": bwd / fwd,
                    "saved_bytes": saved,
                }
            )
    return rows


def bench_solvers(quick: bool = False, repeats: int = 5, device="cpu") -> dict:
    """Benchmark Jacobi-PCG on 2D/3D Laplacians (the P1 stiffness of the uniform meshes).

    Args:
        quick: small sizes (for tests); otherwise about 2.5e5 and 1e6 dofs.
        device: where our solves run (scipy's stay on the CPU); timings synchronise CUDA.
    """
    sizes = (
        [("laplacian-2d", 64, 2), ("laplacian-3d", 16, 3)]
        if quick
        else [
            ("laplacian-2d", 512, 2),
            ("laplacian-2d", 1000, 2),
            ("laplacian-3d", 64, 3),
            ("laplacian-3d", 100, 3),
        ]
    )
    iters = 10 if quick else 50
    out = {
        "device": str(torch.device(device)),
        "fused_native_kernels": native.available(),
        "kernels": native.status(),
        "torch_threads": torch.get_num_threads(),
        "iterations": iters,
        "matrices": [],
        "gradients": [],
    }
    for name, n, dim in sizes:
        out["matrices"].append(_bench_matrix(f"{name} ({n}^{dim})", laplacian(n, dim), iters, repeats, device))
    grad_n = 32 if quick else 512
    out["gradients"] = _bench_gradients(
        laplacian(grad_n, 2), (10, 50) if quick else (10, 50, 200), max(repeats // 2, 1), device
    )
    return out
