"""Poisson's equation -div(kappa grad u) = f, as a step of the physics contract: the
source in, the solution out (`step(f, k, x0, kappa=..., dirichlet=...)`), differentiable in
the source, a per-call conductivity field and the boundary values. A source can also be
parameterised for inverse problems: f = sum_i theta_i phi_i, phi_i the first eigenmodes of the discrete Laplacian
(K phi = lambda M phi with the problem's Dirichlet conditions), scaled to max |phi_i| = 1.
The paper's inverse problem (1D, source -theta sin(2 pi x)) is the second mode of the unit
interval with `sign=-1`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse.linalg as sla
import torch

from ..fem import (
    FunctionSpace,
    apply_dirichlet,
    assemble_matrix,
    dirichlet_conditions,
    mass,
    prepare_dirichlet,
    stiffness,
)
from ..linalg import Jacobi
from ._common import CappedSolver, check_coefficient, check_state, resolve_dirichlet

__all__ = ["PoissonProblem"]


class PoissonProblem:
    """Poisson solves on `space` with Dirichlet values on named boundaries (other
    boundaries: zero flux).

    Args:
        space: scalar `FunctionSpace`.
        dirichlet: {boundary name: value}; at least one boundary (else the problem is
            singular; pin a dof yourself for pure Neumann).
        kappa: diffusivity (number, per-cell tensor or `Field`); `step(..., kappa=)`
            replaces it for one call (e.g. a conductivity field being learned).
        n_modes: number of eigenmodes available to `source`.
        solver: a `CappedSolver` (default CG, implicit gradients).
    """

    def __init__(self, space: FunctionSpace, dirichlet: dict, kappa=1.0, n_modes: int = 4,
                 solver: CappedSolver | None = None):
        if not dirichlet:
            raise ValueError("PoissonProblem: give at least one Dirichlet boundary; known: "
                             + ", ".join(sorted(space.mesh.boundaries)))
        check_coefficient("kappa", kappa, "PoissonProblem")
        self.space, self.n_state, self.dirichlet = space, space.n_dofs, dict(dirichlet)
        self.solver = solver or CappedSolver("cg")
        self._bc_dofs, self._bc_values = dirichlet_conditions(space, dirichlet)
        self.K = assemble_matrix(stiffness, space, kappa=kappa)
        self.M = assemble_matrix(mass, space)
        self._system = prepare_dirichlet(self.K, space, self._bc_dofs, self._bc_values)
        self.precond = Jacobi(self._system.matrix)
        self.modes, self.eigenvalues = self._eigenmodes(n_modes)

    def _eigenmodes(self, n: int):
        fixed = self._bc_dofs.cpu().numpy()
        free = np.setdiff1d(np.arange(self.space.n_dofs), fixed)
        K = self.K.to_scipy()[free][:, free]
        M = self.M.to_scipy()[free][:, free]
        n = min(n, len(free) - 1)
        vals, vecs = sla.eigsh(K, k=n, M=M, sigma=0.0, which="LM")
        order = np.argsort(vals)
        modes = np.zeros((n, self.space.n_dofs))
        modes[:, free] = vecs[:, order].T
        modes /= np.abs(modes).max(axis=1, keepdims=True)
        # A deterministic sign: the first large entry positive.
        for i in range(n):
            j = np.argmax(np.abs(modes[i]) > 0.5)
            modes[i] *= np.sign(modes[i, j])
        return (torch.as_tensor(modes, dtype=self.space.dtype, device=self.space.device),
                torch.as_tensor(vals[order], dtype=self.space.dtype))

    def source(self, theta: torch.Tensor, sign: float = 1.0) -> torch.Tensor:
        """Nodal source [..., n_dofs] = sign * theta @ modes for theta [..., n_modes_used]."""
        theta = torch.as_tensor(theta, dtype=self.space.dtype, device=self.space.device)
        return sign * theta @ self.modes[: theta.shape[-1]]

    def step(self, f: torch.Tensor, k: int | None = None, x0: torch.Tensor | None = None, *,
             kappa=None, dirichlet: dict | None = None) -> torch.Tensor:
        """u for the nodal source f [n] or [B, n] (load b = M f), the solve capped at k.

        Args:
            x0: start of the solve (default zeros).
            kappa: this solve's diffusivity instead of the constructor's (differentiable):
                number, per cell [n_cells] or [B, n_cells], or a `Field` of dof values.
            dirichlet: {boundary name: value} for boundaries named in the constructor, this
                solve only (number, callable, or a tensor [n_dofs of that boundary]).
        """
        check_state(f, self.space.n_dofs, "PoissonProblem.step", "source")
        if kappa is None and dirichlet is None:
            return self.solver(self._system.matrix, self._system.rhs(self.M.matvec(f)), k, self.precond, x0)
        if kappa is not None:
            check_coefficient("kappa", kappa, "PoissonProblem.step")
        K = self.K if kappa is None else assemble_matrix(stiffness, self.space, kappa=kappa)
        dofs, values = resolve_dirichlet(self.space, self.dirichlet, dirichlet, "PoissonProblem.step")
        A, b = apply_dirichlet(K, self.M.matvec(f), self.space, dofs=dofs, values=values)
        return self.solver(A, b, k, Jacobi(A), x0)
