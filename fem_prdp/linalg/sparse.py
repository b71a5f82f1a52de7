"""`CSRPattern` and `SparseMatrix`: a fixed CSR sparsity pattern with values as a tensor.

The pattern (int32 row pointers and column indices, measured 2.7x faster in MKL's SpMV than
int64) is built once; only the values change between training steps. Values may carry a
leading batch dimension: one matrix per sample on the shared pattern.

Products go through `spmv`, an autograd function: the forward is MKL/cuSPARSE CSR @ dense,
the backward gives dL/dx = A^T g (through the cached transpose pattern) and
dL/dvalues = g[row] * x[col] on the stored pattern only.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch

from . import native
from .symmetric import SymmetricLayout, symmetric_layout

__all__ = ["CSRPattern", "SparseMatrix", "spmv", "spmv_into", "pattern_outer"]

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
# torch 2.11 (the GPU image's) warns when a CSR tensor skips its invariant checks unless the
# global switch was set; ours skip them on purpose (patterns valid by construction)
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")


@dataclass(eq=False)
class CSRPattern:
    """A CSR sparsity pattern.

    Attributes:
        crow: [n_rows + 1] int32. Row pointers.
        col: [nnz] int32. Column indices, sorted within each row.
        shape: (n_rows, n_cols).
    """

    crow: torch.Tensor
    col: torch.Tensor
    shape: tuple[int, int]
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def nnz(self) -> int:
        return int(self.col.shape[0])

    @property
    def device(self) -> torch.device:
        return self.col.device

    @classmethod
    def from_coo(cls, rows, cols, shape: tuple[int, int], device=None) -> tuple[CSRPattern, torch.Tensor]:
        """Pattern of the (row, col) pairs (duplicates merged) and the scatter map.

        Returns:
            (pattern, slot): `slot[k]` is the position in `values` that entry k adds into, so
            `values = zeros(nnz).index_add_(0, slot, entries)` assembles a matrix.
        """
        rows = torch.as_tensor(rows, dtype=torch.int64).reshape(-1)
        cols = torch.as_tensor(cols, dtype=torch.int64).reshape(-1)
        key = rows * shape[1] + cols
        uniq, slot = torch.unique(key, sorted=True, return_inverse=True)
        r, c = uniq // shape[1], uniq % shape[1]
        crow = torch.zeros(shape[0] + 1, dtype=torch.int64)
        crow[1:] = torch.cumsum(torch.bincount(r, minlength=shape[0]), 0)
        pattern = cls(crow.to(torch.int32).to(device), c.to(torch.int32).to(device), tuple(shape))
        return pattern, slot.to(device)

    def row_indices(self) -> torch.Tensor:
        """[nnz] int64: the row of each stored entry (cached)."""
        if "row" not in self._cache:
            counts = (self.crow[1:] - self.crow[:-1]).long()
            self._cache["row"] = torch.repeat_interleave(
                torch.arange(self.shape[0], device=self.device), counts
            )
        return self._cache["row"]

    def transpose(self) -> tuple[CSRPattern, torch.Tensor]:
        """(pattern of A^T, perm) with values(A^T) = values(A)[..., perm] (cached)."""
        if "T" not in self._cache:
            row, col = self.row_indices(), self.col.long()
            perm = torch.argsort(col * self.shape[0] + row)
            t, _ = CSRPattern.from_coo(
                col[perm], row[perm], (self.shape[1], self.shape[0]), device=self.device
            )
            t._cache["T"] = (self, torch.argsort(perm))
            self._cache["T"] = (t, perm)
        return self._cache["T"]

    def diagonal_slots(self) -> torch.Tensor:
        """[min(n_rows, n_cols)] int64: position of (i, i) in values, or -1 if not stored."""
        if "diag" not in self._cache:
            row, col = self.row_indices(), self.col.long()
            n = min(self.shape)
            slots = torch.full((n,), -1, dtype=torch.int64, device=self.device)
            on = row == col
            slots[row[on]] = torch.nonzero(on).reshape(-1)
            self._cache["diag"] = slots
        return self._cache["diag"]

    def eliminated_slots(self, dofs: torch.Tensor) -> torch.Tensor:
        """[m] int64: positions in the values of the off-diagonal entries in the rows or
        columns `dofs` (a Dirichlet elimination zeroes them). Cached for the last set of
        dofs of each size: a solve loop that constrains the same boundary every step finds
        them in one comparison of the dofs instead of a pass over the pattern."""
        key = ("eliminated", dofs.numel())
        cached = self._cache.get(key)
        if cached is not None and torch.equal(cached[0], dofs):
            return cached[1]
        constrained = torch.zeros(self.shape[0], dtype=torch.bool, device=self.device)
        constrained[dofs] = True
        row, col = self.row_indices(), self.col.long()
        slots = torch.nonzero((constrained[row] | constrained[col]) & (row != col)).reshape(-1)
        self._cache[key] = (dofs.clone(), slots)
        return slots

    def symmetric_layout(self, renumber: bool = True) -> SymmetricLayout | None:
        """The fused CG loop's diagonal-and-lower-half layout of this pattern for the
        current thread count (renumbered by reverse Cuthill-McKee, or with renumber=False
        in this pattern's numbering), or None when the pattern is not structurally
        symmetric or lacks a diagonal entry (cached per thread count and numbering)."""
        key = ("symmetric", native.layout_parts()) + (() if renumber else ("own numbering",))
        if key not in self._cache:
            layout = None
            if (self.shape[0] == self.shape[1] and self.device.type == "cpu" and native.available()
                    and native.csr_symmetric(self.crow, self.col, None, 0.0)):
                layout = symmetric_layout(self.crow, self.col, key[1], renumber)
            self._cache[key] = layout
        return self._cache[key]

    def symmetric_halves(self, values: torch.Tensor, checked: bool = False) -> tuple[SymmetricLayout, torch.Tensor] | None:
        """(layout, values in it): `values` ([nnz], usable by the fused kernels) in this
        pattern's own-numbering symmetric layout, for `native.sym_residual`; None where the
        kernels, the layout or the values' symmetry (to 16 eps; `checked`: known already,
        not checked again) do not allow it."""
        if values.ndim != 1 or not native.usable(values):
            return None
        layout = self.symmetric_layout(renumber=False)
        if layout is None:
            return None
        halves = native.gather_values(values, layout.src) if checked else layout.values(values)
        return None if halves is None else (layout, halves)

    def batched(self, batch: int) -> CSRPattern:
        """Block-diagonal pattern of `batch` copies (one big CSR product for a batch of
        matrices on this pattern); cached per batch size."""
        key = ("batched", batch)
        if key not in self._cache:
            n, m = self.shape
            offs = torch.arange(batch, device=self.device, dtype=torch.int64)
            crow = (self.crow[None, 1:].long() + offs[:, None] * self.nnz).reshape(-1)
            crow = torch.cat([self.crow[:1].long(), crow]).to(torch.int32)
            col = (self.col[None, :].long() + offs[:, None] * m).reshape(-1).to(torch.int32)
            self._cache[key] = CSRPattern(crow, col, (batch * n, batch * m))
        return self._cache[key]

    def to(self, device) -> CSRPattern:
        if torch.device(device) == self.device:
            return self
        return CSRPattern(self.crow.to(device), self.col.to(device), self.shape)

    def csr_tensor(self, values: torch.Tensor) -> torch.Tensor:
        return torch.sparse_csr_tensor(self.crow, self.col, values, size=self.shape, check_invariants=False)


def _product(pattern: CSRPattern, values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A @ x without autograd. values [nnz] or [B, nnz]; x [B, n_cols] -> [B, n_rows]."""
    if values.ndim == 1:
        # One matrix, B right-hand sides. MKL's CSR SpMM on [n, B] was measured slower per
        # right-hand side than separate SpMVs (and x.T is strided); the fused kernel reads
        # the matrix once for all B, else multiply row by row.
        if x.shape[0] > 1 and native.usable(values, x):
            return native.matmul_rows(pattern.crow, pattern.col, values, pattern.shape, x)
        csr = pattern.csr_tensor(values)
        if x.shape[0] == 1:
            return (csr @ x[0]).unsqueeze(0)
        return torch.stack([torch.mv(csr, xi) for xi in x])
    batch = values.shape[0]
    big = pattern.batched(batch)
    return (big.csr_tensor(values.reshape(-1)) @ x.reshape(-1)).reshape(batch, -1)


class _SpMV(torch.autograd.Function):
    @staticmethod
    def forward(ctx, values, x, pattern):
        ctx.pattern = pattern
        ctx.save_for_backward(values, x)
        return _product(pattern, values, x)

    @staticmethod
    def backward(ctx, grad_y):
        values, x = ctx.saved_tensors
        pattern = ctx.pattern
        grad_values = grad_x = None
        if ctx.needs_input_grad[0]:  # d(A x)_i / dA_ij = x_j on the stored pattern only
            grad_values = pattern_outer(pattern, grad_y, x, batched=values.ndim == 2)
        if ctx.needs_input_grad[1]:
            t, perm = pattern.transpose()
            grad_x = spmv(t, values[..., perm], grad_y)
        return grad_values, grad_x, None


def pattern_outer(pattern: CSRPattern, g: torch.Tensor, x: torch.Tensor, batched: bool) -> torch.Tensor:
    """g x^T kept on the stored pattern: [nnz] summed over the batch (one shared matrix) or
    [B, nnz] (`batched`: one matrix per sample), for g [B, n_rows] and x [B, n_cols]. The
    values gradient of y = A x (g = dL/dy) and of x = A^-1 b (g = -lam)."""
    if native.usable(g, x):
        return native.pattern_outer(pattern.crow, pattern.col, g, x, batched)
    row, col = pattern.row_indices(), pattern.col.long()
    if not batched and len(g) == 1:  # one vector: no batch sum, no [B, nnz] temporary
        return torch.index_select(g[0], 0, row).mul_(torch.index_select(x[0], 0, col))
    prod = g[:, row] * x[:, col]
    return prod if batched else prod.sum(0)


def spmv_into(pattern: CSRPattern, values: torch.Tensor, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """out = A x without autograd and without allocating (x, out: [B, n], contiguous)."""
    if values.ndim == 1:
        if x.shape[0] > 1 and out.is_contiguous() and native.usable(values, x):
            native.matmul_rows(pattern.crow, pattern.col, values, pattern.shape, x, out=out)
            return out
        csr = pattern.csr_tensor(values)
        for i in range(x.shape[0]):
            torch.mv(csr, x[i], out=out[i])
        return out
    big = pattern.batched(values.shape[0])
    torch.mv(big.csr_tensor(values.reshape(-1)), x.reshape(-1), out=out.view(-1))
    return out


def spmv(pattern: CSRPattern, values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Differentiable y = A x for x of shape [B, n_cols] (values [nnz] or [B, nnz])."""
    if not (values.requires_grad or x.requires_grad) or not torch.is_grad_enabled():
        return _product(pattern, values, x)
    return _SpMV.apply(values, x, pattern)


class SparseMatrix:
    """A CSR matrix (or a batch of matrices on one pattern) with differentiable values.

    Args:
        pattern: the shared `CSRPattern`.
        values: [nnz] or [B, nnz] float. Entries in CSR order.

    >>> A = SparseMatrix.from_dense(torch.tensor([[2.0, 1.0], [0.0, 3.0]]))
    >>> A.matvec(torch.tensor([1.0, 1.0]))
    tensor([3., 3.])
    """

    def __init__(self, pattern: CSRPattern, values: torch.Tensor):
        if values.shape[-1] != pattern.nnz or values.ndim not in (1, 2):
            raise ValueError(
                f"SparseMatrix: values must have shape (nnz,) or (batch, nnz) with nnz = "
                f"{pattern.nnz}, got {tuple(values.shape)}"
            )
        if values.device != pattern.device:
            pattern = pattern.to(values.device)
        self.pattern = pattern
        self.values = values

    # ------------------------------------------------------------ construction
    @classmethod
    def from_scipy(cls, matrix, dtype=torch.float64, device=None) -> SparseMatrix:
        csr = sp.csr_matrix(matrix)
        csr.sum_duplicates()
        csr.sort_indices()
        pattern = CSRPattern(
            torch.as_tensor(csr.indptr.astype(np.int32)),
            torch.as_tensor(csr.indices.astype(np.int32)),
            csr.shape,
        ).to(device or "cpu")
        return cls(pattern, torch.as_tensor(csr.data, dtype=dtype, device=device))

    @classmethod
    def from_dense(cls, dense: torch.Tensor) -> SparseMatrix:
        """Pattern of the non-zeros of a [n, m] (or their union over a [B, n, m] batch)."""
        nz = dense != 0 if dense.ndim == 2 else (dense != 0).any(0)
        rows, cols = torch.nonzero(nz, as_tuple=True)
        pattern, _ = CSRPattern.from_coo(rows.cpu(), cols.cpu(), tuple(nz.shape), device=dense.device)
        return cls(pattern, dense[..., pattern.row_indices(), pattern.col.long()])

    # ------------------------------------------------------------------ info
    @property
    def shape(self) -> tuple[int, int]:
        return self.pattern.shape

    @property
    def batch_size(self) -> int | None:
        return None if self.values.ndim == 1 else int(self.values.shape[0])

    @property
    def dtype(self) -> torch.dtype:
        return self.values.dtype

    @property
    def device(self) -> torch.device:
        return self.values.device

    def __repr__(self) -> str:
        b = "" if self.batch_size is None else f", batch={self.batch_size}"
        return f"SparseMatrix(shape={self.shape}, nnz={self.pattern.nnz}{b}, dtype={self.dtype})"

    # ---------------------------------------------------------------- products
    def matvec(self, x: torch.Tensor) -> torch.Tensor:
        """A x. x: [n_cols] or [B, n_cols] (B right-hand sides, or one per matrix)."""
        squeeze = x.ndim == 1
        xb = x.unsqueeze(0) if squeeze else x
        if xb.shape[-1] != self.shape[1]:
            raise ValueError(
                f"matvec: x has {xb.shape[-1]} entries per sample, expected n_cols = {self.shape[1]}"
            )
        if self.batch_size is not None and xb.shape[0] != self.batch_size:
            raise ValueError(f"matvec: x has batch {xb.shape[0]}, but the matrix batch is {self.batch_size}")
        y = spmv(self.pattern, self.values, xb)
        return y[0] if squeeze else y

    __matmul__ = matvec

    def rmatvec(self, x: torch.Tensor) -> torch.Tensor:
        """A^T x."""
        return self.T.matvec(x)

    @property
    def T(self) -> SparseMatrix:
        t, perm = self.pattern.transpose()
        return SparseMatrix(t, self.values[..., perm])

    def diagonal(self) -> torch.Tensor:
        """[n] or [B, n]: the diagonal (zeros where not stored)."""
        slots = self.pattern.diagonal_slots()
        vals = self.values[..., slots.clamp(min=0)]
        return torch.where(slots >= 0, vals, torch.zeros_like(vals))

    def with_values(self, values: torch.Tensor) -> SparseMatrix:
        return SparseMatrix(self.pattern, values)

    # ------------------------------------------------------------- conversions
    def to_dense(self) -> torch.Tensor:
        n, m = self.shape
        out = self.values.new_zeros((*self.values.shape[:-1], n * m))
        flat = self.pattern.row_indices() * m + self.pattern.col.long()
        out = out.index_copy(out.ndim - 1, flat, self.values)  # differentiable in values
        return out.reshape(*self.values.shape[:-1], n, m)

    def to_scipy(self, index: int = 0) -> sp.csr_matrix:
        vals = self.values if self.values.ndim == 1 else self.values[index]
        return sp.csr_matrix(
            (vals.detach().cpu().numpy(), self.pattern.col.cpu().numpy(), self.pattern.crow.cpu().numpy()),
            shape=self.shape,
        )

    def to(self, device=None, dtype: torch.dtype | None = None) -> SparseMatrix:
        values = self.values.to(device=device, dtype=dtype or self.values.dtype)
        return SparseMatrix(self.pattern.to(values.device), values)

    def block(self, rows: slice, cols: slice) -> SparseMatrix:
        """The sub-matrix A[rows, cols] (contiguous ranges) as its own matrix; values are a
        differentiable gather of this matrix's values."""
        r0, r1 = rows.start or 0, rows.stop if rows.stop is not None else self.shape[0]
        c0, c1 = cols.start or 0, cols.stop if cols.stop is not None else self.shape[1]
        key = ("block", r0, r1, c0, c1)
        cache = self.pattern._cache
        if key not in cache:
            row, col = self.pattern.row_indices(), self.pattern.col.long()
            sel = torch.nonzero((row >= r0) & (row < r1) & (col >= c0) & (col < c1)).reshape(-1)
            pattern, _ = CSRPattern.from_coo(
                row[sel].cpu() - r0, col[sel].cpu() - c0, (r1 - r0, c1 - c0), device=self.device
            )
            cache[key] = (pattern, sel)
        pattern, sel = cache[key]
        return SparseMatrix(pattern, self.values[..., sel])
