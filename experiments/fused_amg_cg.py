"""CG and the AMG cycle in one kernel (`native.MultigridCycle.cg`, what `solve` takes for
one float64 system) against the torch CG loop around the same fused cycle, and torch-fem's
AMG-CG, on the steady-heat systems of `bench peers` (`peers._ours` / `peers._torch_fem`:
forward = AMG set-up + solve, backward = adjoint + gradients). Medians of alternating
rounds after one warm-up round; the iterations (forward, adjoint) of the last round.

    .venv/bin/python experiments/fused_amg_cg.py 36 --repeats 7
    .venv/bin/python experiments/fused_amg_cg.py 58 --repeats 5
"""

import argparse
import importlib
import statistics

from fem_prdp.fem import peers
from fem_prdp.fem.bench import steady_heat_system

solve_module = importlib.import_module("fem_prdp.linalg.solve")  # the package's `solve` is the function


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="cells per side of the box: (n + 1)^3 nodes")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    fused = solve_module._fused_amg
    _, rho, weights, system = steady_heat_system(args.n)
    A, b = system(rho)
    runs = {"fused loop": [], "torch loop": [], "torch-fem": []}
    for i in range(args.repeats + 1):
        for name in runs:
            if name == "torch-fem":
                out = peers._torch_fem(A, b, weights, "amg")
            else:
                solve_module._fused_amg = fused if name == "fused loop" else (lambda *a: None)
                out = peers._ours(A, b, weights, "amg")
            if i:
                runs[name].append((out[0], out[1], out[5:] if name != "torch-fem" else ()))
    solve_module._fused_amg = fused
    med = {name: [statistics.median(r[j] for r in rows) for j in (0, 1)] for name, rows in runs.items()}
    print(f"{(args.n + 1) ** 3} nodes, medians of {args.repeats} rounds")
    for name, (fwd, bwd) in med.items():
        print(f"{name:>11}: forward {1e3 * fwd:8.1f} ms  backward {1e3 * bwd:7.1f} ms  its {runs[name][-1][2]}")
    for j, label in ((0, "forward"), (1, "backward")):
        print(f"{label}: fused / torch loop {med['fused loop'][j] / med['torch loop'][j]:.2f}x; torch-fem / fused "
              f"{med['torch-fem'][j] / med['fused loop'][j]:.2f}x, torch-fem / torch loop "
              f"{med['torch-fem'][j] / med['torch loop'][j]:.2f}x")


if __name__ == "__main__":
    main()
