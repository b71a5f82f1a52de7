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

__all__ = ["ConjugateDirections"]


class ConjugateDirections:
    """The first `capacity` search directions of a (batched) CG solve and their curvatures.

    Args:
        capacity: most directions kept (each one [B, n] float32).

    A direction recorded for a sample that had already stopped (or with p^T A p <= 0, which
    stops it) gets weight zero in `start`: per sample, only directions of its own live
    iteration count. The directions are stored in blocks of rows (`keep` fills blocks of
    `_BLOCK`; a fused solve hands over its own with `extend`), so that `start` projects onto
    a block in two matrix products instead of a few small calls per direction (at 50k
    unknowns, 22 directions: ~2 ms of a 30 ms backward pass before); a block is allocated
    when the previous one is full.
    """

    _BLOCK = 8

    def __init__(self, capacity: int = 64):
        if capacity < 0:
            raise ValueError(f"ConjugateDirections: capacity must be >= 0, got {capacity}")
        self.capacity = capacity
        self._count = 0
        self._blocks: list[torch.Tensor] = []  # [rows, B, n] float32
        self._filled: list[int] = []  # rows of each block holding directions
        self._curvatures: list[tuple[torch.Tensor, torch.Tensor]] = []

    def __len__(self) -> int:
        return self._count

    def keep(self, p: torch.Tensor, pAp: torch.Tensor, active: torch.Tensor) -> None:
        """Record p [B, n] with pAp = p^T A p [B] for the samples `active` [B] bool (the
        weights are formed in `start`: nothing but the copy of p per iteration here)."""
        if self._count >= self.capacity:
            return
        if not self._blocks or self._filled[-1] == self._blocks[-1].shape[0]:
            rows = min(self._BLOCK, self.capacity - self._count)
            self._blocks.append(torch.empty((rows, *p.shape), dtype=torch.float32, device=p.device))
            self._filled.append(0)
        self._blocks[-1][self._filled[-1]].copy_(p)
        self._filled[-1] += 1
        self._curvatures.append((pAp.clone(), active.clone()))
        self._count += 1

    def extend(self, block: torch.Tensor, pAp: torch.Tensor) -> None:
        """Record a block of directions at once: block [k, B, n] float32 (kept, not copied),
        pAp [k, B] their p^T A p, every sample live in each (a fused solve records only the
        iterations it ran). Beyond `capacity` the rest is dropped."""
        rows = min(block.shape[0], self.capacity - self._count)
        if rows <= 0:
            return
        self._blocks.append(block[:rows])
        self._filled.append(rows)
        live = torch.ones(pAp.shape[1], dtype=torch.bool, device=pAp.device)
        self._curvatures.extend((c, live) for c in pAp[:rows])
        self._count += rows

    def start(self, g: torch.Tensor) -> torch.Tensor:
        """y0 [B, n] (g's dtype): the projection of A y = g onto the kept directions
        (zeros when none were kept, e.g. after a fused Jacobi solve)."""
        y = torch.zeros(g.shape, dtype=torch.float32, device=g.device)
        if not self._count:
            return y.to(g.dtype)
        g32 = g.to(torch.float32)
        pAp = torch.stack([c for c, _ in self._curvatures])  # [k, B]
        usable = torch.stack([a for _, a in self._curvatures]) & (pAp > 0)
        blocks = [block[:rows] for block, rows in zip(self._blocks, self._filled, strict=True)]
        # p_i^T g for every kept direction: [B, rows] per block, batched over the samples
        dots = torch.cat([torch.bmm(b.transpose(0, 1), g32[:, :, None])[..., 0] for b in blocks], dim=1)
        weights = torch.where(usable.T, dots / torch.where(usable.T, pAp.T, 1.0), 0.0).float()  # [B, k]
        first = 0
        for b in blocks:
            w = weights[:, first: first + b.shape[0]]
            y[:, None, :].baddbmm_(w[:, None, :], b.transpose(0, 1))  # into y, no temporary
            first += b.shape[0]
        return y.to(g.dtype)
