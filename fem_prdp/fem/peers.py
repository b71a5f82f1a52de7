"""`fem-prdp bench peers`: fem_prdp against the libraries people compare it with, in one run,
the contenders alternating, agreement printed next to each ratio. Needs the `bench` extra
(torch-fem 0.14, scikit-fem).

- Differentiable steady-heat solve (`bench.steady_heat_system`: P1 tetrahedra, per-cell
  conductivity 1e-3 + rho^3, CG to rtol 1e-10) against torch-fem's
  `differentiable_sparse_solve` on the same matrix and right-hand side: forward (the
  preconditioner's set-up and the solve) and backward (the adjoint solve and the gradients
  with respect to the matrix values and the right-hand side), with Jacobi and with AMG.
  The assembly is not part of it: each library's own assembly differs in what it builds.
- For Jacobi, the bandwidth floor of those iterations (`linalg.bench.floor_bytes` of one
  fused iteration over the read bandwidth measured on a buffer that size) and each
  library's forward time over the floor of the storage it reads: ours the symmetric
  layout's diagonal and lower half (`linalg.bench.fused_storage`), torch-fem's plain CSR.
- For AMG, the products floor: the time of the matrix products alone that our iterations
  make (CG's and the V-cycle's, the same calls: `_amg_products`, timed in the
  same alternating rounds, as many as our adjoint iterates: from the projection onto the
  forward's CG directions it needs fewer than the forward, `linalg.krylov.recycle`) and
  each library's backward over it; torch-fem's backward over that floor is the largest
  backward speed-up any implementation of our cycle (same hierarchy, same iterations)
  could reach.
- Peak memory of that forward + backward: each contender in a fresh process, the rise of
  its resident set's high-water mark over the resident set before (Linux: the mark is
  reset through /proc/self/clear_refs; elsewhere the rows are left out).
- P1 stiffness assembly with that conductivity against scikit-fem's `asm` on the same
  tetrahedra (ours: a re-assembly on the cached pattern; scikit-fem builds its matrix anew
  each time, as its users call it).

Ratios are peer time / our time: above 1, fem_prdp is faster.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import re
import statistics
import sys
import time

import torch

from .._timing import synchronize
from ..linalg import AMG, CG, Jacobi, native, solve
from ..linalg.bench import floor_bytes, fused_storage, read_bandwidth
from .assembly import assemble_matrix
from .bench import steady_heat_system
from .forms import stiffness

__all__ = ["bench_peers", "torch_fem_sparse"]


def torch_fem_sparse():
    """torch-fem's `sparse` module (its differentiable solve, Krylov loop and multigrid).
    torch-fem's package import also loads its plotting, pyvista and so VTK; where that is
    missing (the GPU machine: VTK's 140 MB wheel is over what travels there,
    scripts/gpu_bundle.sh), the module's file is loaded alone: the same solver code, which
    imports none of it. Raises `MissingExtraError` when torch-fem is not installed."""
    from .._extras import require

    try:
        return require("torchfem.sparse", "bench", "fem-prdp bench peers", package="torch-fem")
    except ImportError as error:
        missing = getattr(error.__cause__, "name", None) or ""
        if missing.split(".")[0] not in ("pyvista", "vtk", "vtkmodules"):
            raise
    name = "torchfem.sparse"
    if name not in sys.modules:  # find_spec locates the package without running its __init__
        path = importlib.util.find_spec("torchfem").submodule_search_locations[0]
        spec = importlib.util.spec_from_file_location(name, f"{path}/sparse.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


def _ours(A, b, weights, precond: str):
    vals = A.values.detach().clone().requires_grad_(True)
    rhs = b.detach().clone().requires_grad_(True)
    synchronize()
    t0 = time.perf_counter()
    Av = A.with_values(vals)
    x, info = solve(Av, rhs, CG(rtol=1e-10, max_iters=20_000), AMG(Av) if precond == "amg" else Jacobi(Av))
    synchronize()
    t1 = time.perf_counter()
    (x * weights).sum().backward()
    synchronize()
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, x.detach(), vals.grad, rhs.grad, int(info.n_iters[0]), int(info.adjoint[0].n_iters[0])


def _torch_fem_matrix(A) -> torch.Tensor:
    """A as the CSR tensor torch-fem takes (int64 indices, a copy of the detached values)."""
    return torch.sparse_csr_tensor(A.pattern.crow.long(), A.pattern.col.long(), A.values.detach().clone(),
                                   size=A.shape, check_invariants=False)  # a valid CSR pattern


def _torch_fem(A, b, weights, precond: str):
    differentiable_sparse_solve = torch_fem_sparse().differentiable_sparse_solve
    rhs = b.detach().clone().requires_grad_(True)
    # The matrix itself is the leaf: its gradient is torch-fem's sparse dL/dA on the pattern
    # (built from a values leaf instead, autograd would densify it on the way back).
    At = _torch_fem_matrix(A).requires_grad_(True)
    synchronize()
    t0 = time.perf_counter()
    x = differentiable_sparse_solve(At, rhs, stol=1e-10, method="cg", preconditioner=precond)
    synchronize()
    t1 = time.perf_counter()
    (x * weights).sum().backward()
    synchronize()
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, x.detach(), At.grad.values(), rhs.grad, None, None


def _torch_fem_amg_iterations(A, b) -> int:
    """CG iterations of torch-fem's own AMG-preconditioned CG on A x = b to rtol 1e-10 (the
    loop and cycle its `differentiable_sparse_solve` runs, which returns no count: the
    private `_krylov` and `_multigrid` of the pinned torch-fem 0.14)."""
    sparse = torch_fem_sparse()
    At = _torch_fem_matrix(A)
    return int(sparse._krylov(At, b.detach(), "cg", 1e-10, sparse._multigrid(At, None))[1])


def _amg_products(A):
    """One CG iteration's matrix products with our AMG of A, as a callable: CG's product
    with A and, per visit of a level, degree * (pre + post) products with the level's
    matrix (the Chebyshev steps after the first, which starts from zero, and the residual
    before restriction), one each with R and P, and per visit of the coarsest level its
    dense product; in a W-cycle each smoothed coarse level is visited twice per visit of
    the level above, with one residual product between the two. The same calls (CG's and
    the finest level's products through the symmetric layout's kernel, as `solve` and
    `AMG` make them) on vectors of the same sizes. Run as many times as our solve
    iterates, a floor for any solve with this hierarchy that multiplies this way."""
    M = AMG(A)
    gen = torch.Generator().manual_seed(0)

    def vector(n: int, dtype) -> torch.Tensor:
        return torch.rand(n, generator=gen, dtype=dtype).to(A.device)

    x = vector(A.shape[0], A.dtype)
    halves = A.pattern.symmetric_halves(A.values.detach())
    csr = A.pattern.csr_tensor(A.values.detach())
    levels = [(lvl, vector(lvl.A.shape[0], M.dtype), vector(lvl.P.shape[1], M.dtype)) for lvl in M.levels]
    coarse = vector(M.coarse_inv.shape[0], M.dtype)

    def products():
        native.sym_residual(*halves, None, x) if halves is not None else csr @ x
        visits = 1
        for depth, (lvl, v, c) in enumerate(levels):
            if depth and M.w_cycle:  # each coarse solve here: two cycles, the residual between them
                for _ in range(visits):
                    lvl.residual(v, v)
                visits *= 2
            for _ in range(visits):
                for _ in range(M.degree * (M.pre + M.post)):
                    lvl.residual(v, v)  # the finest level's through the symmetric layout, as in the cycle
                lvl.R_csr @ v
                lvl.P_csr @ c
        for _ in range(visits):
            M.coarse_inv @ coarse

    return products


def _products_s(products, iterations: int) -> float:
    synchronize()
    t0 = time.perf_counter()
    for _ in range(iterations):
        products()
    synchronize()
    return time.perf_counter() - t0


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def _rounds(n_nodes: int, repeats: int) -> int:
    """Timed rounds of the solve rows at n_nodes: `repeats`, times up to 5 below 200k nodes.
    A small size's solve takes ~0.1 s, where the shared machine's noise moves one library's
    median by 20% between runs (torch-fem's Jacobi forward at 50k nodes: 168-219 ms over
    three runs); more rounds there cost seconds, at 512k nodes minutes."""
    return repeats * max(1, min(5, -(-200_000 // n_nodes)))


def _solve_rows(n: int, repeats: int, device) -> list[dict]:
    V, rho, weights, system = steady_heat_system(n, device)
    A, b = system(rho)
    rounds = _rounds(V.n_dofs, repeats)
    rows = []
    for precond in ("jacobi", "amg"):
        runs = {"fem_prdp": [], "torch-fem": []}
        # AMG: the products floor (`_amg_products`), timed in the same rounds as the solves
        products, floors = (_amg_products(A) if precond == "amg" else None), []
        try:
            for i in range(rounds + 1):  # the first round warms both up and is not timed
                for name, run in (("fem_prdp", _ours), ("torch-fem", _torch_fem)):
                    out = run(A, b, weights, precond)
                    if i:
                        runs[name].append(out)
                if products is not None and i:
                    floors.append(_products_s(products, runs["fem_prdp"][-1][6]))  # the adjoint's iterations
                elif products is not None:  # warm-up
                    products()
        except Exception as error:  # a peer without support for this device: say so, go on
            if torch.device(device).type == "cpu":
                raise
            rows.append({"n_nodes": V.n_dofs, "preconditioner": precond,
                         "error": f"{type(error).__name__}: {error}".splitlines()[0][:200]})
            continue
        ours, peer = runs["fem_prdp"][-1], runs["torch-fem"][-1]
        fwd = {k: statistics.median(r[0] for r in v) for k, v in runs.items()}
        bwd = {k: statistics.median(r[1] for r in v) for k, v in runs.items()}
        rows.append({
            "n_nodes": V.n_dofs, "preconditioner": precond, "rounds": rounds, "iterations": ours[5],
            "adjoint_iterations": ours[6],
            "forward_s": fwd["fem_prdp"], "torch_fem_forward_s": fwd["torch-fem"],
            "forward_speedup": fwd["torch-fem"] / fwd["fem_prdp"],
            "backward_s": bwd["fem_prdp"], "torch_fem_backward_s": bwd["torch-fem"],
            "backward_speedup": bwd["torch-fem"] / bwd["fem_prdp"],
            "agreement_x": _relative(ours[2], peer[2]), "agreement_grad_values": _relative(ours[3], peer[3]),
            "agreement_grad_rhs": _relative(ours[4], peer[4]),
        })
        if floors:  # what the products of our cycle alone cost, at our adjoint's iteration count
            floor = statistics.median(floors)
            rows[-1].update({"torch_fem_iterations": _torch_fem_amg_iterations(A, b),
                             "products_floor_s": floor, "backward_over_products": bwd["fem_prdp"] / floor,
                             "torch_fem_backward_over_products": bwd["torch-fem"] / floor})
        if precond == "jacobi":  # how close either comes to the memory traffic CG must make
            stored, row_arrays = fused_storage(A)
            csr_bytes = floor_bytes(A.pattern.nnz, A.shape[0])
            bandwidth = read_bandwidth(csr_bytes, rounds * 3, device)
            floor = ours[5] * floor_bytes(stored, A.shape[0], row_arrays=row_arrays) / bandwidth
            csr_floor = ours[5] * csr_bytes / bandwidth
            rows[-1].update({"stored_entries": stored, "floor_s": floor, "csr_floor_s": csr_floor,
                             "forward_over_floor": fwd["fem_prdp"] / floor,
                             "torch_fem_forward_over_floor": fwd["torch-fem"] / csr_floor})
    return rows


def _resident_kib(field: str) -> int:
    return int(re.search(rf"{field}:\s+(\d+) kB", open("/proc/self/status").read()).group(1))


def _prepared(n: int, precond: str, library: str, device="cpu"):
    """(run, A, b, weights): a small warm-up solve has loaded the library's code and kernels,
    then the size-n system is built."""
    run = _ours if library == "fem_prdp" else _torch_fem
    _, rho, weights, system = steady_heat_system(3, device)
    run(*system(rho), weights, precond)
    _, rho, weights, system = steady_heat_system(n, device)
    return (run, *system(rho), weights)


def _cuda_peak_rise(n: int, precond: str, library: str, device) -> int:
    """Bytes by which one forward + backward raises CUDA's allocated-memory peak."""
    run, A, b, weights = _prepared(n, precond, library, device)
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    run(A, b, weights, precond)
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - before


def _peak_rise(n: int, precond: str, library: str) -> int:
    """Bytes by which one forward + backward raises the resident set's peak (run in a fresh
    process; freed heap memory goes back to the system, then the mark is reset)."""
    import ctypes
    import gc

    run, A, b, weights = _prepared(n, precond, library)
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # the high-water mark VmHWM restarts from the current resident set
    before = _resident_kib("VmRSS")
    run(A, b, weights, precond)
    return 1024 * (_resident_kib("VmHWM") - before)


def _memory_rows(sizes, device) -> list[dict]:
    """CPU: the resident set in a fresh process per measurement (Linux only); CUDA: the
    allocator's peak, in this process."""
    cuda = torch.device(device).type == "cuda"
    if not cuda and not sys.platform.startswith("linux"):
        return []
    rows = []
    with multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:  # a clean heap each time
        for n in sizes:
            for precond in ("jacobi", "amg"):
                peak = {}
                for lib in ("fem_prdp", "torch-fem"):
                    try:
                        peak[lib] = (_cuda_peak_rise(n, precond, lib, device) if cuda
                                     else pool.apply(_peak_rise, (n, precond, lib)))
                    except Exception as error:
                        if not cuda:
                            raise
                        peak[lib] = f"{type(error).__name__}: {error}".splitlines()[0][:200]
                row = {"n_nodes": (n + 1) ** 3, "preconditioner": precond, "peak_bytes": peak["fem_prdp"],
                       "torch_fem_peak_bytes": peak["torch-fem"]}
                if all(isinstance(v, int) for v in peak.values()):
                    row["ratio"] = peak["fem_prdp"] / max(peak["torch-fem"], 1)
                rows.append(row)
    return rows


def _assembly_row(n: int, repeats: int) -> dict:
    import skfem
    from skfem.helpers import dot, grad

    V, rho, _, _ = steady_heat_system(n)
    kappa = 1e-3 + rho**3
    mesh = V.mesh
    basis = skfem.Basis(skfem.MeshTet(mesh.points.T.numpy(), mesh.cells.T.numpy()), skfem.ElementTetP1())
    kappa_q = kappa.numpy()[:, None]  # constant per cell, at every quadrature point

    @skfem.BilinearForm
    def laplace(u, v, w):
        return w.kappa * dot(grad(u), grad(v))

    def peer():
        return skfem.asm(laplace, basis, kappa=kappa_q)

    def ours():
        return assemble_matrix(stiffness, V, kappa=kappa)

    times = {"fem_prdp": [], "scikit-fem": []}
    ours(), peer()  # warm-up; our pattern is built here, once per space
    for _ in range(repeats):
        for name, fn in (("fem_prdp", ours), ("scikit-fem", peer)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    ref = peer().tocsr()
    diff = abs(ours().to_scipy().tocsr() - ref)
    t_ours, t_peer = (statistics.median(times[k]) for k in ("fem_prdp", "scikit-fem"))
    return {"n_nodes": V.n_dofs, "n_cells": mesh.n_cells, "assembly_s": t_ours, "scikit_fem_s": t_peer,
            "speedup": t_peer / t_ours, "agreement": float(diff.max() / abs(ref).max()) if diff.nnz else 0.0}


def bench_peers(quick: bool = False, repeats: int = 3, device="cpu") -> dict:
    """Solve and peak-memory rows (Jacobi and AMG) and assembly rows at 2.2k nodes (quick)
    or 12k, 50k, 205k and 512k nodes. `device`: where both libraries' solves run (a peer
    that fails there gets an "error" row); scikit-fem's assembly is CPU-only, so the
    assembly rows are left out on other devices."""
    from importlib.metadata import version

    sizes = (12,) if quick else (22, 36, 58, 79)
    on_cpu = torch.device(device).type == "cpu"
    return {"torch_fem": version("torch-fem"), "scikit_fem": version("scikit-fem"), "device": str(torch.device(device)),
            "torch_threads": torch.get_num_threads(),
            "solve": [row for n in sizes for row in _solve_rows(n, repeats, device)],
            "memory": _memory_rows(sizes, device),
            "assembly": [_assembly_row(n, repeats) for n in sizes] if on_cpu else []}
