"""`fem-prdp bench assembly`: re-assembly throughput (cells per second) and the one-off
pattern build time, medians over repeats, on uniform special meshes.

Each row also times one copy of the assembled values (`values_copy_s`): any re-assembly
that returns a new values tensor writes at least that much, so it is the floor a
per-cell throughput target is held against.

`bench_steady_heat` (part of `fem-prdp bench solvers`): the differentiable steady-heat
solve on P1 tetrahedra with a per-cell conductivity 1e-3 + rho^3, forward (assembly,
preconditioner set-up, CG to rtol 1e-10) and backward (the implicit adjoint solve and the
gradient through the assembly onto rho), per preconditioner, with pyamg's own smoothed
aggregation (Gauss-Seidel smoothing, CG) as the reference iteration count."""

from __future__ import annotations

import time

import torch

from .._timing import median_forward_backward, median_time
from ..linalg import AMG, CG, Jacobi, solve
from ..mesh import uniform_box, uniform_rectangle
from .assembly import assemble_matrix
from .boundary import apply_dirichlet
from .forms import stiffness
from .oseen import TaylorHood, assemble_oseen
from .space import FunctionSpace

__all__ = ["bench_assembly", "bench_steady_heat", "steady_heat_system"]

_PRECONDITIONERS = {
    "jacobi": Jacobi,
    "amg-jacobi": lambda A: AMG(A, smoother="jacobi"),
    "amg-chebyshev": lambda A: AMG(A, smoother="chebyshev"),
}


def _case(name: str, mesh, build, repeats: int) -> dict:
    t0 = time.perf_counter()
    reassemble = build(mesh)  # builds spaces, assembles once (pattern), returns a closure
    first = time.perf_counter() - t0
    t = median_time(reassemble, repeats, warmup=False)
    values = reassemble().values
    copy = median_time(values.clone, repeats)
    return {
        "case": name,
        "n_cells": mesh.n_cells,
        "nnz": values.shape[-1],
        "values_copy_s": copy,
        "setup_and_pattern_s": first,
        "reassembly_s": t,
        "cells_per_s": mesh.n_cells / t,
    }


def _p1_stiffness(mesh):
    V = FunctionSpace(mesh, 1)
    kappa = torch.rand(mesh.n_cells, dtype=torch.float64) + 0.5
    assemble_matrix(stiffness, V, kappa=kappa)
    return lambda: assemble_matrix(stiffness, V, kappa=kappa)


def _p2_stiffness(mesh):
    V = FunctionSpace(mesh, 2)
    kappa = torch.rand(mesh.n_cells, dtype=torch.float64) + 0.5
    assemble_matrix(stiffness, V, kappa=kappa)
    return lambda: assemble_matrix(stiffness, V, kappa=kappa)


def _oseen(mesh):
    th = TaylorHood(mesh)
    w = torch.rand(th.n_u, dtype=torch.float64)
    assemble_oseen(th, nu=1e-2, velocity=w, dt=0.1)
    return lambda: assemble_oseen(th, nu=1e-2, velocity=w, dt=0.1).matrix


def bench_assembly(quick: bool = False, repeats: int = 5) -> dict:
    """Throughput at about 1e4, 1e5 and 1e6 cells (quick: 1e3 and 1e4)."""
    tri = [(22, "1e3"), (71, "1e4")] if quick else [(71, "1e4"), (224, "1e5"), (707, "1e6")]
    tet = [(6, "1e3"), (12, "1e4")] if quick else [(12, "1e4"), (26, "1e5"), (55, "1e6")]
    rows = []
    for n, _ in tri:
        mesh = uniform_rectangle(n)
        rows.append(_case("P1 stiffness, triangles", mesh, _p1_stiffness, repeats))
        rows.append(_case("P2 stiffness, triangles", mesh, _p2_stiffness, repeats))
        if mesh.n_cells <= 2e5 or not quick:
            rows.append(_case("Taylor-Hood Oseen, triangles", mesh, _oseen, repeats))
    for n, _ in tet:
        rows.append(_case("P1 stiffness, tetrahedra", uniform_box(n), _p1_stiffness, repeats))
    by = {(r["case"], r["n_cells"]): r for r in rows}
    ratios = []
    for r in rows:
        if r["case"].startswith("Taylor-Hood"):
            p1 = by[("P1 stiffness, triangles", r["n_cells"])]
            ratios.append(
                {
                    "n_cells": r["n_cells"],
                    "oseen_over_p1_time_per_cell": r["reassembly_s"] / p1["reassembly_s"],
                    "nnz_ratio": r["nnz"] / p1["nnz"],
                    # the Oseen values copy alone against the whole P1 re-assembly
                    "oseen_copy_over_p1": r["values_copy_s"] / p1["reassembly_s"],
                }
            )
    return {"device": "cpu", "torch_threads": torch.get_num_threads(), "rows": rows, "oseen_vs_p1": ratios}


def _pyamg_iterations(A, b) -> int:
    import pyamg
    import scipy.sparse.linalg as sla

    S = A.to_scipy().tocsr()
    count = [0]
    sla.cg(S, b.cpu().numpy(), rtol=1e-10, maxiter=2000, M=pyamg.smoothed_aggregation_solver(S).aspreconditioner(),
           callback=lambda _: count.__setitem__(0, count[0] + 1))
    return count[0]


def steady_heat_system(n: int, device="cpu"):
    """The benchmarks' steady-heat problem on `uniform_box(n)` ((n + 1)^3 nodes): returns
    (V, rho [n_cells], weights [n_dofs], system) where system(r) assembles the P1 stiffness
    with conductivity 1e-3 + r^3 per cell and zero temperature on "left" -> (A, b); the
    loss of a solution x is (x * weights).sum(). Everything on `device` (the random
    fields are drawn on the CPU, so every device sees the same problem)."""
    mesh = uniform_box(n)
    V = FunctionSpace(mesh, 1, device=device)
    rho = torch.rand(mesh.n_cells, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).to(V.device)
    weights = torch.rand(V.n_dofs, dtype=torch.float64, generator=torch.Generator().manual_seed(1)).to(V.device)
    f = torch.full((V.n_dofs,), 1.0 / V.n_dofs, dtype=torch.float64, device=V.device)

    def system(r):
        return apply_dirichlet(assemble_matrix(stiffness, V, kappa=1e-3 + r**3), f, V, "left", values=0.0)

    return V, rho, weights, system


def _steady_heat_rows(n: int, repeats: int, device) -> list[dict]:
    V, rho, weights, system = steady_heat_system(n, device)
    A0, b0 = system(rho)
    reference = _pyamg_iterations(A0, b0)
    rows = []
    for name, make in _PRECONDITIONERS.items():
        infos = []

        def forward(make=make, infos=infos):
            r = rho.detach().requires_grad_(True)
            A, b = system(r)
            x, info = solve(A, b, CG(rtol=1e-10, max_iters=5000), make(A))
            infos.append(info)
            return (x * weights).sum()

        setup = median_time(lambda make=make: make(A0), repeats)
        fwd, bwd, ratio = median_forward_backward(forward, repeats)
        info = infos[-1]
        rows.append({
            "n_nodes": V.n_dofs, "preconditioner": name, "iterations": int(info.n_iters[0]),
            "adjoint_iterations": int(info.adjoint[-1].n_iters[0]) if info.adjoint else None,
            "status": info.status.name, "setup_s": setup, "forward_s": fwd, "backward_s": bwd,
            "backward_over_forward": ratio, "pyamg_sa_iterations": reference,
        })
    return rows


def bench_steady_heat(quick: bool = False, repeats: int = 3, device="cpu") -> list[dict]:
    """Rows per mesh size (quick: 2.2k nodes; else 50k, 205k and 512k) and preconditioner:
    CG iterations, set-up / forward / backward seconds (medians; forward and backward
    alternating, `median_forward_backward`) and backward / forward (the median of the
    rounds' ratios), on `device` (the AMG hierarchy is built on the CPU, then moved)."""
    return [row for n in ((12,) if quick else (36, 58, 79)) for row in _steady_heat_rows(n, repeats, device)]
