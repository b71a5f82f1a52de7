"""`fem-prdp verify solvers`: every solver against a dense direct solve, and gradient checks."""

from __future__ import annotations

import torch

from .amg import AMG
from .krylov import CG, GMRES, MINRES, BiCGStab, SolveStatus
from .precond import ILU0, SSOR, Jacobi
from .saddle import BlockDiagonal
from .solve import solve
from .sparse import SparseMatrix
from .stencils import convection_diffusion, laplacian, saddle_point

__all__ = ["verify_solvers"]


def _cases():
    lap = SparseMatrix.from_scipy(laplacian(12, 2))
    lap3 = SparseMatrix.from_scipy(laplacian(6, 3))
    cd = SparseMatrix.from_scipy(convection_diffusion(12, peclet=40.0))
    S, n_u = saddle_point(8)
    sad = SparseMatrix.from_scipy(S)
    K = sad.block(slice(0, n_u), slice(0, n_u))
    n_p = sad.shape[0] - n_u
    ones = torch.ones(n_p, dtype=torch.float64)

    class _Scaled(Jacobi):  # pressure "mass" Jacobi: identity scaled (cell-centred grid)
        def __init__(self):
            self.inv_diag = ones

    block = BlockDiagonal(n_u, AMG(K, max_coarse=20), _Scaled())
    return [
        (
            "laplacian-2d",
            lap,
            [
                ("cg", None),
                ("cg", "jacobi"),
                ("cg", "ssor"),
                ("cg", "ilu0"),
                ("cg", "amg"),
                ("minres", "jacobi"),
                ("gmres", "ilu0"),
                ("bicgstab", "amg"),
            ],
        ),
        ("laplacian-3d", lap3, [("cg", "jacobi"), ("cg", "amg"), ("gmres", "jacobi")]),
        (
            "convection-diffusion",
            cd,
            [("gmres", None), ("gmres", "ilu0"), ("bicgstab", "jacobi"), ("bicgstab", "ssor")],
        ),
        ("saddle-point", sad, [("minres", None), ("minres", block), ("gmres", block)]),
    ]


_SOLVERS = {"cg": CG, "minres": MINRES, "gmres": GMRES, "bicgstab": BiCGStab}
_PRECONDS = {"jacobi": Jacobi, "ssor": SSOR, "ilu0": ILU0, "amg": lambda A: AMG(A, max_coarse=20)}


def verify_solvers() -> dict:
    """Solve each model system to rtol 1e-12 and compare with `torch.linalg.solve`; run
    gradient checks (unrolled: gradcheck; implicit: against the dense adjoint)."""
    rows = []
    for name, A, combos in _cases():
        b = torch.sin(torch.arange(A.shape[0], dtype=torch.float64) + 0.5)
        ref = torch.linalg.solve(A.to_dense(), b)
        for method, pc in combos:
            P = _PRECONDS[pc](A) if isinstance(pc, str) else pc
            label = pc if isinstance(pc, str) or pc is None else type(pc).__name__.lower()
            x, info = solve(A, b, _SOLVERS[method](rtol=1e-12, max_iters=5000), P)
            err = float((x - ref).norm() / ref.norm())
            rows.append(
                {
                    "matrix": name,
                    "n": A.shape[0],
                    "solver": method,
                    "precond": label or "none",
                    "status": info.status.name,
                    "iterations": int(info.n_iters),
                    "relative_error": err,
                    "relative_residual": float(info.relative_residual),
                    "ok": info.status == SolveStatus.CONVERGED and err < 1e-10,
                }
            )
    grads = _gradient_checks()
    return {
        "solves": rows,
        "gradients": grads,
        "ok": all(r["ok"] for r in rows) and all(g["ok"] for g in grads),
    }


def _gradient_checks() -> list[dict]:
    out = []
    A = SparseMatrix.from_scipy(laplacian(4, 2))
    cd = SparseMatrix.from_scipy(convection_diffusion(4))
    for name, M, solver in [
        ("cg", A, CG(rtol=0.0, max_iters=6)),
        ("gmres", cd, GMRES(rtol=0.0, max_iters=6, restart=3)),
    ]:
        v = M.values.clone().requires_grad_(True)
        b = torch.linspace(0, 1, M.shape[0], dtype=torch.float64).requires_grad_(True)
        ok = torch.autograd.gradcheck(
            lambda v, b, M=M, solver=solver: solve(M.with_values(v), b, solver, grad="unrolled")[0],
            (v, b),
            raise_exception=False,
        )
        out.append({"check": f"unrolled gradcheck ({name}, K=6)", "ok": bool(ok), "error": None})
        v = M.values.clone().requires_grad_(True)
        b = b.detach().clone().requires_grad_(True)
        conv = type(solver)(rtol=1e-13, max_iters=1000)
        x, _ = solve(M.with_values(v), b, conv, grad="implicit")
        x.pow(2).sum().backward()
        vd, bd = M.values.clone().requires_grad_(True), b.detach().clone().requires_grad_(True)
        torch.linalg.solve(M.with_values(vd).to_dense(), bd).pow(2).sum().backward()
        err = float(
            max((v.grad - vd.grad).norm() / vd.grad.norm(), (b.grad - bd.grad).norm() / bd.grad.norm())
        )
        out.append(
            {"check": f"implicit vs dense adjoint ({name}, converged)", "ok": err < 1e-8, "error": err}
        )
    return out
