"""CG iterations (rtol 1e-10) with `AMG(A)`'s defaults but the lower end of the Chebyshev
smoother's interval, on the steady-heat systems of `bench peers` and three matrices of
`linalg.stencils` (jumping diffusion in 3D and 2D, a 2D Laplacian; right-hand side seeded).

    .venv/bin/python experiments/chebyshev_interval.py 22 36 58 --lower 0.1 0.12 0.15 0.18 0.2
    .venv/bin/python experiments/chebyshev_interval.py 79 --lower 0.1 0.15 0.18 0.2 0.25
"""

import argparse

import torch

from fem_prdp.fem.bench import steady_heat_system
from fem_prdp.linalg import AMG, CG, SparseMatrix, amg, solve
from fem_prdp.linalg.stencils import jumping_diffusion, laplacian


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, nargs="+", help="cells per side of each box: (n + 1)^3 nodes")
    parser.add_argument("--lower", type=float, nargs="+", default=[0.1, 0.15])
    args = parser.parse_args()
    systems = []
    for n in args.n:
        _, rho, _, system = steady_heat_system(n)
        systems.append((f"heat {(n + 1) ** 3}", *system(rho)))
    for name, S in (("jump3d", jumping_diffusion(24, dim=3)), ("jump2d", jumping_diffusion(128, dim=2)),
                    ("lap2d", laplacian(128, 2))):
        A = SparseMatrix.from_scipy(S, dtype=torch.float64)
        systems.append((name, A, torch.rand(A.shape[0], dtype=torch.float64,
                                             generator=torch.Generator().manual_seed(0))))
    default = amg._CHEBYSHEV_INTERVAL
    try:
        for lower in args.lower:
            amg._CHEBYSHEV_INTERVAL = (lower, default[1])
            its = [f"{name} {int(solve(A, b, CG(rtol=1e-10, max_iters=500), AMG(A))[1].n_iters[0])}"
                   for name, A, b in systems]
            print(f"[{lower:g}, {default[1]:g}] rho:", ", ".join(its), flush=True)
    finally:
        amg._CHEBYSHEV_INTERVAL = default


if __name__ == "__main__":
    main()
