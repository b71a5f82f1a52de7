"""A CG solve's search directions, kept to start a later solve with the same matrix.

CG's directions p_0 .. p_{k-1} are A-conjugate (p_i^T A p_j = 0 for i != j), so the
Galerkin projection of A y = g onto their span needs no linear solve:

    y0 = sum_i p_i (p_i^T g) / (p_i^T A p_i)

minimises the A-norm of the error over that span, so y0 is never further from the solution
in that norm than a zero start ("init-CG", Erhel & Guyomarc'h, SIAM J. Matrix Anal. Appl.
21, 2000). The span holds the eigenvectors the forward solve had to resolve, the extreme
ones first, and those are what a CG run from zero spends its iterations on. The implicit
backward pass of `solve` starts its adjoint solve (A^T = A for CG) from this y0: measured on
3D steady heat with the AMG V-cycle (`fem-prdp bench solvers`), 22 -> 17 adjoint iterations
at 50k nodes, 27 -> 20 at 205k and 28 -> 21 at 512k; with the W-cycle AMG now takes at the
two larger sizes, 23 -> 18 and 24 -> 18 (experiments/RESULTS.md).

The directions are a start, not part of the answer: the adjoint still iterates to its own
tolerance, so they are kept in float32 (half the memory; their rounding is a perturbation of
the start that the solve removes) and only the first `capacity` of a long solve.
"""

from __future__ import annotations

import torch

from ._common import dot

__all__ = ["ConjugateDirections"]


class ConjugateDirections:
    """The first `capacity` search directions of a (batched) CG solve and their curvatures.

    Args:
        capacity: most directions kept (each one [B, n] float32).

    A direction recorded for a sample that had already stopped (or with p^T A p <= 0, which
    stops it) gets weight zero in `start`: per sample, only directions of its own live
    iteration count.
    """

    def __init__(self, capacity: int = 64):
        if capacity < 0:
            raise ValueError(f"ConjugateDirections: capacity must be >= 0, got {capacity}")
        self.capacity = capacity
        self._directions: list[torch.Tensor] = []
        self._curvatures: list[tuple[torch.Tensor, torch.Tensor]] = []

    def __len__(self) -> int:
        return len(self._directions)

    def keep(self, p: torch.Tensor, pAp: torch.Tensor, active: torch.Tensor) -> None:
        """Record p [B, n] with pAp = p^T A p [B] for the samples `active` [B] bool (the
        weights are formed in `start`: nothing but the copy of p per iteration here)."""
        if len(self._directions) < self.capacity:
            self._directions.append(p.to(torch.float32, copy=True))
            self._curvatures.append((pAp.clone(), active.clone()))

    def start(self, g: torch.Tensor) -> torch.Tensor:
        """y0 [B, n] (g's dtype): the projection of A y = g onto the kept directions
        (zeros when none were kept, e.g. after a fused native solve)."""
        y = torch.zeros(g.shape, dtype=torch.float32, device=g.device)
        g32 = g.to(torch.float32)
        for p, (pAp, active) in zip(self._directions, self._curvatures, strict=True):
            usable = active & (pAp > 0)
            weight = torch.where(usable, dot(p, g32) / torch.where(usable, pAp, 1.0), 0.0).float()
            y.addcmul_(weight[:, None], p)
        return y.to(g.dtype)
