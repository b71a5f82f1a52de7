"""`SymmetricLayout`: a symmetric matrix's pattern stored by its diagonal and lower half, the
form in which the fused Jacobi-PCG loop (`native.jacobi_cg`, renumbered) and the products on
one vector of the AMG cycle and of CG (`native.sym_residual`, in A's own numbering) multiply
by a matrix that is symmetric to round-off. Built once per pattern, thread count and
numbering (`CSRPattern.symmetric_layout`); only the values are gathered into it per solve."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import native

__all__ = ["SymmetricLayout", "symmetric_layout"]


@dataclass(frozen=True)
class SymmetricLayout:
    """A symmetric matrix's pattern stored by its diagonal and lower half, for the fused CG
    loop: its matrix pass reads ~60% of plain CSR's bytes (3D P1 stiffness at 512k nodes:
    103 instead of 180 bytes a row), the bulk of a Jacobi-PCG iteration's memory traffic.

    The unknowns are renumbered by reverse Cuthill-McKee: the scattered half of the product
    then writes into a compact band of recent rows (at 512k nodes, lexicographically
    numbered, the product from the halves was 1.1-1.2x faster than plain CSR and a whole
    CG solve no faster; renumbered, the product is 1.4-1.6x faster).
    The rows are split into `parts` blocks, one per thread, as the kernels split them. Row
    i holds (i, i), then the entries whose column lies in another block (both mirrors kept,
    so no thread writes into another's block), then (i, j) for j < i inside its block
    (their mirrors are applied by scattering). `mid[i]` is where that last group starts.

    Attributes:
        order: [n] int64. The renumbering: unknown i of the layout is unknown order[i] of A.
        crow: [n + 1] int32, mid: [n] int32, col: [m] int32. The layout.
        src: [m] int32. Position in A's values of each entry.
        parts: blocks of rows (threads) it was built for.
        pattern_crow, pattern_col: A's own pattern (the same tensors, not copies), against
            which the values' symmetry is checked.
    """

    order: torch.Tensor
    crow: torch.Tensor
    mid: torch.Tensor
    col: torch.Tensor
    src: torch.Tensor
    parts: int
    pattern_crow: torch.Tensor
    pattern_col: torch.Tensor

    def values(self, values: torch.Tensor) -> torch.Tensor | None:
        """[..., m] values in this layout, or None when `values` ([nnz] or [B, nnz]) are not
        symmetric to round-off, |a_ij - a_ji| <= 16 eps max|a| (then the plain loop
        multiplies by the matrix as given). Assembled FEM matrices are symmetric only to
        round-off (summation order); the product then uses a_ij for a_ji, a change below
        what any tolerance of CG can see, and the solve's reported residual is A's own."""
        if values.numel() == 0:
            return values[..., self.src.long()]
        tol = 16 * torch.finfo(values.dtype).eps * float(torch.linalg.vector_norm(values, ord=float("inf")))
        if not native.csr_symmetric(self.pattern_crow, self.pattern_col, values, tol):
            return None
        return native.gather_values(values, self.src)


def symmetric_layout(crow: torch.Tensor, col: torch.Tensor, parts: int, renumber: bool = True) -> SymmetricLayout | None:
    """The `SymmetricLayout` of a structurally symmetric CSR pattern (int32 crow [n + 1], col
    [nnz], sorted rows), or None when a row has no stored diagonal. Built with int32 arrays
    and scipy's in-place row sorts: a one-off per pattern whose peak is a few int32 arrays
    of nnz (numpy argsorts on int64 keys had tripled the first solve's peak memory).
    renumber=False keeps A's numbering (order is the identity): for products whose vectors
    other matrices in A's numbering also read (the AMG cycle's finest level); with the fused
    kernels it is built by `native.sym_layout_own` in two passes and no temporaries (this
    function's arrays were the peak of an AMG set-up at 512k nodes: ~230 MB above the rest)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    i32 = np.int32
    n, nnz = crow.shape[0] - 1, col.shape[0]
    if 3 * n >= 2**31 or nnz >= 2**31:
        return None
    if not renumber and crow.device.type == "cpu" and native.available():
        arrays = native.sym_layout_own(crow, col, parts)
        if arrays is None:
            return None
        return SymmetricLayout(torch.arange(n, dtype=torch.int64), *arrays, parts, crow, col)
    crow_np, col_np = crow.cpu().numpy(), col.cpu().numpy()
    numbering = (reverse_cuthill_mckee(csr_matrix((np.ones(nnz, dtype=np.int8), col_np, crow_np), shape=(n, n)),
                                       symmetric_mode=True).astype(i32) if renumber else np.arange(n, dtype=i32))
    new_of = np.empty(n, dtype=i32)
    new_of[numbering] = np.arange(n, dtype=i32)
    # A renumbered: row i of the layout is row numbering[i] of A, its entries' positions in
    # A's values carried along as the data of a CSR matrix that scipy sorts in place.
    counts = np.diff(crow_np)[numbering]
    new_crow = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=new_crow[1:])
    row = np.repeat(np.arange(n, dtype=i32), counts)
    position = np.arange(nnz, dtype=i32)
    position += np.repeat((crow_np[:-1][numbering] - new_crow[:-1]).astype(i32), counts)
    renumbered = csr_matrix((position, new_of[col_np[position]], new_crow), shape=(n, n))
    renumbered.sort_indices()
    new_col, position = renumbered.indices, renumbered.data
    del renumbered
    # group 0: the diagonal; 1: columns in another thread's block; 2: lower, same block
    bounds = np.array([n * t // parts for t in range(parts + 1)])
    block = (np.searchsorted(bounds, np.arange(n), side="right") - 1).astype(i32)
    diagonal = row == new_col
    if int(diagonal.sum()) != n:
        return None
    cross = block[row] != block[new_col]
    keep = diagonal | cross | (new_col < row)
    group = np.where(diagonal, 0, np.where(cross, 1, 2)).astype(i32)[keep]
    row, position = row[keep], position[keep]
    kept_crow = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=n), out=kept_crow[1:])
    # each row ordered by (group, column): one more in-place row sort, on group * n + column
    grouped = csr_matrix((position, group * i32(n) + new_col[keep], kept_crow), shape=(n, 3 * n))
    grouped.sort_indices()
    group = grouped.indices // n
    mid = kept_crow[:-1] + np.bincount(row, weights=group < 2, minlength=n).astype(np.int64)
    dev = crow.device
    as32 = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=i32)).to(dev)  # noqa: E731
    return SymmetricLayout(torch.from_numpy(numbering.astype(np.int64)).to(dev), as32(kept_crow), as32(mid),
                           as32(grouped.indices % n), as32(grouped.data), parts, crow, col)
