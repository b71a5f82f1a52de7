"""Products from a symmetric matrix's diagonal and lower half in its own numbering
(`CSRPattern.symmetric_layout(renumber=False)`, `native.sym_residual`) against MKL's CSR
product (torch), the AMG cycle in one fused call (`native.MultigridCycle`) against the same
cycle in torch, and what they save in an AMG-preconditioned CG solve and its adjoint.

1. r - A x on one vector, float32 (the AMG cycle's finest level) and float64 (CG's own
   product), on the steady-heat matrices of `bench peers`; medians of alternating rounds.
2. One application of the AMG cycle to one vector: the fused call against the torch cycle
   (both through the levels' symmetric layouts).
3. AMG-CG to rtol 1e-10, forward (set-up + solve) and backward (adjoint + gradients), the
   cycle in torch with every product from the whole matrices ("none"), with the levels'
   products from their layouts ("cycle"), with CG's too ("both"), or the fused cycle with
   CG's products from the layout ("fused", the default); the finest layout is made once
   per pattern before the rounds, as a training loop on one mesh makes it once.

    .venv/bin/python experiments/symmetric_layout_products.py 36 58 79 --repeats 7
"""

import argparse
import importlib
import statistics
import time

import torch

from fem_prdp.fem.bench import steady_heat_system
from fem_prdp.linalg import AMG, CG, native, solve

solve_module = importlib.import_module("fem_prdp.linalg.solve")  # the package's `solve` is the function


def _ms(fn, calls: int = 30) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls * 1e3


def products(A, repeats: int) -> dict:
    layout = A.pattern.symmetric_layout(renumber=False)
    gen = torch.Generator().manual_seed(0)
    out = {}
    for dtype in (torch.float32, torch.float64):
        values = A.values.detach().to(dtype)
        csr, halves = A.pattern.csr_tensor(values), layout.values(values)
        r, x = (torch.rand(A.shape[0], generator=gen).to(dtype) for _ in range(2))
        error = float((native.sym_residual(layout, halves, r, x) - torch.addmv(r, csr, x, alpha=-1.0)).abs().max())
        times = {"mkl": [], "layout": []}
        contenders = {"mkl": lambda r=r, csr=csr, x=x: torch.addmv(r, csr, x, alpha=-1.0),
                      "layout": lambda r=r, halves=halves, x=x: native.sym_residual(layout, halves, r, x)}
        for _ in range(repeats):
            for name, fn in contenders.items():
                times[name].append(_ms(fn))
        out[str(dtype).removeprefix("torch.")] = ({k: statistics.median(v) for k, v in times.items()}, error)
    return out


def cycles(A, repeats: int) -> dict:
    """Median ms of one cycle application to one vector: {"torch": ..., "fused": ...}."""
    fused = AMG(A.with_values(A.values.detach()))
    in_torch = AMG(A.with_values(A.values.detach()))
    in_torch._native = None
    r = torch.rand(1, A.shape[0], dtype=A.dtype, generator=torch.Generator().manual_seed(0))
    out = torch.empty_like(r)
    times = {"torch": [], "fused": []}
    for _ in range(repeats):
        for name, M in (("torch", in_torch), ("fused", fused)):
            times[name].append(_ms(lambda M=M: M.apply_into(r, out)))
    return {k: statistics.median(v) for k, v in times.items()}


def solves(A, b, weights, repeats: int) -> dict:
    through_layout = solve_module._Operator.__dict__["_halves"]  # CG's operator: values in the layout
    A.pattern.symmetric_layout(renumber=False)  # once per pattern

    def run(variant: str):
        solve_module._Operator._halves = (through_layout if variant in ("both", "fused")
                                          else property(lambda self: None))
        values = A.values.detach().clone().requires_grad_(True)
        Av = A.with_values(values)
        t0 = time.perf_counter()
        M = AMG(Av)
        if variant != "fused":
            M._native = None  # the cycle in torch
        if variant == "none":
            M.levels = [level._replace(layout=None) for level in M.levels]
        x, info = solve(Av, b.detach(), CG(rtol=1e-10, max_iters=5000), M)
        t1 = time.perf_counter()
        (x * weights).sum().backward()
        return t1 - t0, time.perf_counter() - t1, int(info.n_iters[0]), int(info.adjoint[0].n_iters[0])

    runs = {v: [] for v in ("none", "cycle", "both", "fused")}
    try:
        for i in range(repeats + 1):  # the first round warms up
            for variant, rs in runs.items():
                out = run(variant)
                if i:
                    rs.append(out)
    finally:
        solve_module._Operator._halves = through_layout
    return {v: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs), rs[-1][2], rs[-1][3])
            for v, rs in runs.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, nargs="+", help="uniform_box sizes ((n + 1)^3 nodes)")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    for n in args.n:
        V, rho, weights, system = steady_heat_system(n)
        A, b = system(rho)
        for dtype, (t, error) in products(A, args.repeats).items():
            print(f"{V.n_dofs:>8} r - A x {dtype}: MKL {t['mkl']:.3f} ms, layout {t['layout']:.3f} ms "
                  f"({t['mkl'] / t['layout']:.2f}x), max difference {error:.1e}")
        t = cycles(A, args.repeats)
        print(f"{V.n_dofs:>8} AMG cycle on one vector: torch {t['torch']:.3f} ms, fused {t['fused']:.3f} ms "
              f"({t['fused'] / t['torch']:.2f}x the time)")
        for variant, (fwd, bwd, its, adjoint) in solves(A, b, weights, args.repeats).items():
            print(f"{V.n_dofs:>8} AMG-CG, layout {variant:<6} its {its}/{adjoint}: forward {fwd * 1e3:7.1f} ms, "
                  f"backward {bwd * 1e3:7.1f} ms")


if __name__ == "__main__":
    main()
