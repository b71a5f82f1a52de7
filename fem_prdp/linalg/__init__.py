"""Sparse linear algebra that knows nothing about meshes: CSR matrices, Krylov solvers,
preconditioners and the differentiable capped solve."""

from . import native
from .amg import AMG
from .krylov import CG, GMRES, MINRES, BiCGStab, KrylovSolver, Richardson, SolveError, SolveInfo, SolveStatus
from .precond import (
    ILU0,
    SSOR,
    Chebyshev,
    IdentityPreconditioner,
    Jacobi,
    Preconditioner,
    jacobi,
)
from .records import SolveRecords, solve_records
from .saddle import BlockDiagonal, BlockTriangular, CahouetChabard, Componentwise, PressureConvectionDiffusion
from .solve import solve
from .sparse import CSRPattern, SparseMatrix, spmv

__all__ = [
    "native",
    "CSRPattern",
    "SparseMatrix",
    "spmv",
    "solve",
    "KrylovSolver",
    "CG",
    "GMRES",
    "MINRES",
    "Richardson",
    "BiCGStab",
    "SolveInfo",
    "SolveStatus",
    "SolveError",
    "Preconditioner",
    "IdentityPreconditioner",
    "Jacobi",
    "jacobi",
    "Chebyshev",
    "SSOR",
    "ILU0",
    "AMG",
    "BlockDiagonal",
    "BlockTriangular",
    "CahouetChabard",
    "Componentwise",
    "PressureConvectionDiffusion",
    "SolveRecords",
    "solve_records",
]
