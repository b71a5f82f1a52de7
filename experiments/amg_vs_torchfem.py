"""AMG quality on one matrix: fem_prdp's smoothed-aggregation V-cycle (Jacobi or Chebyshev
smoothing) against torch-fem 0.14's (pyamg hierarchy, Chebyshev degree 2, Cholesky coarse
solve, coarse size 2000), both as CG preconditioners to rtol 1e-10.

The matrix: P1 stiffness on a gmsh box of tetrahedra, conductivity 1e-3 + rho^3 per cell
(rho uniform, seeded), zero temperature on one face. Needs the `bench` extra
(`.venv/bin/pip install -e ".[bench]"`: torch-fem 0.14, which keeps the installed torch).
Repeats alternate the contenders.

    .venv/bin/python experiments/amg_vs_torchfem.py 0.025 0.0125 --repeats 3
"""

import argparse
import statistics
import time

import torch
from torchfem.sparse import _krylov, _multigrid

import fem_prdp.mesh as M
from fem_prdp.fem import FunctionSpace, apply_dirichlet, assemble_matrix, stiffness
from fem_prdp.linalg import AMG, CG, solve


def system(h: float):
    mesh = M.generate("box", h)
    V = FunctionSpace(mesh, 1)
    rho = torch.rand(mesh.n_cells, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    A = assemble_matrix(stiffness, V, kappa=1e-3 + rho**3)
    f = torch.full((V.n_dofs,), 1.0 / V.n_dofs, dtype=torch.float64)
    return apply_dirichlet(A, f, V, "back", values=0.0)


def ours(A, b, smoother):
    t0 = time.perf_counter()
    P = AMG(A, smoother=smoother)
    t1 = time.perf_counter()
    x, info = solve(A, b, CG(rtol=1e-10, max_iters=1000), P)
    return x, int(info.n_iters[0]), t1 - t0, time.perf_counter() - t1


def torch_fem(A, b):
    S = A.to_scipy().tocsr()
    At = torch.sparse_csr_tensor(torch.from_numpy(S.indptr), torch.from_numpy(S.indices), torch.from_numpy(S.data),
                                 size=S.shape)
    t0 = time.perf_counter()
    cycle = _multigrid(At, None)
    t1 = time.perf_counter()
    x, iterations = _krylov(At, b, "cg", 1e-10, cycle)
    return x, iterations, t1 - t0, time.perf_counter() - t1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("h", type=float, nargs="+", help="gmsh mesh sizes")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    contenders = {"fem_prdp AMG, Jacobi": lambda A, b: ours(A, b, "jacobi"),
                  "fem_prdp AMG, Chebyshev": lambda A, b: ours(A, b, "chebyshev"),
                  "torch-fem 0.14 AMG": torch_fem}
    print(f"{'nodes':>8} {'contender':<26}{'CG its':>7}{'setup s':>9}{'solve s':>9}  agreement")
    for h in args.h:
        A, b = system(h)
        runs = {name: [] for name in contenders}
        for _ in range(args.repeats):
            for name, run in contenders.items():
                runs[name].append(run(A, b))
        reference = runs["torch-fem 0.14 AMG"][0][0]
        for name, rs in runs.items():
            x, its = rs[0][0], rs[0][1]
            setup = statistics.median(r[2] for r in rs)
            solve_s = statistics.median(r[3] for r in rs)
            agree = float((x - reference).norm() / reference.norm())
            print(f"{A.shape[0]:>8} {name:<26}{its:>7}{setup:>9.3f}{solve_s:>9.3f}  {agree:.1e}")


if __name__ == "__main__":
    main()
