"""Fused CPU kernels (C, OpenMP) for the iterations that library calls cannot fuse.

A Jacobi-PCG iteration built from library calls is one MKL SpMV plus a handful of vector
passes; measured here it moved about 1.8x the bytes' floor, and 2x scipy needs the SpMV
fused with the dot products and updates. `_csrc/csr_kernels.c` runs the whole Jacobi-PCG
loop (every right-hand side in one pass over the matrix, vectors stored [n, B]; a matrix
symmetric to round-off read as its diagonal and lower half, `symmetric.SymmetricLayout`), and the
Jacobi-preconditioned Richardson loop (the paper's Jacobi sweeps, where torch's per-call
overhead dominates on small systems). `solve` uses them for `CG` and `Richardson` when
nothing needs autograd, the tensors are on the CPU in float32/float64 and the
preconditioner is Jacobi or none. `spmv` uses the multi-vector product (one shared
matrix, B vectors in torch's [B, n] layout) where it would otherwise call MKL once per
vector. Mass and stiffness are assembled and differentiated through them in one pass over
the cells (`fem.gram`), and the smoothed-aggregation set-up forms its prolongators and
Galerkin products with them (`aggregation`). A matrix symmetric to round-off is multiplied
from its diagonal and lower half on one vector (`sym_residual`): CG's product in the
torch loop and the products of the AMG cycle, which on one vector runs whole in one call
(`MultigridCycle`: smoothed aggregation with Chebyshev smoothing), and so does CG around
it on one float64 system (`MultigridCycle.cg`). Everything else keeps
the torch (or pyamg) path, which is also the reference the tests compare against.

The library is compiled when the package is installed (setup.py: portable -O3 with
OpenMP and, with GCC on x86-64, an AVX2 + FMA clone of each kernel picked at load time;
-march=native opt-in with `FEM_PRDP_NATIVE_TUNE=1`), never at run time, and loaded
here with ctypes; it links the OpenMP runtime torch has already loaded, so both share one
thread pool. It is used only when its embedded source hash equals that of the installed
sources (the declarations below are written against them). Otherwise, on the GPU, or with
`FEM_PRDP_NATIVE=0`, the torch loops run; `status()` gives the reason in one line, and
`SolveInfo.loop` records which loop each solve ran.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import importlib.machinery
import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from .symmetric import SymmetricLayout

__all__ = ["available", "status", "enabled", "usable", "jacobi_cg", "jacobi_richardson", "pattern_outer", "matmul_rows",
           "layout_parts", "csr_symmetric", "gather_values", "gram_assemble", "gram_vjp", "csr_spgemm",
           "sa_prolongator", "sym_residual", "sym_layout_own", "MultigridCycle"]

_SOURCES = [Path(__file__).with_name("_csrc") / name for name in ("csr_kernels.c", "csr_kernels.inc")]
_SUFFIX = {torch.float64: "f64", torch.float32: "f32"}
_enabled = os.environ.get("FEM_PRDP_NATIVE", "1") != "0"

_p = ctypes.c_void_p
_i64 = ctypes.c_int64
_ARGTYPES = {
    "jacobi_cg": [_i64, _i64, _p, _p, _p, _p, _i64, _p, ctypes.c_int, _p, _p, _p, _p, _p,
                  _i64, _p, ctypes.c_int, _p, _p, _p, ctypes.c_int],
    "jacobi_richardson": [_i64, _i64, _p, _p, _p, _i64, _p, ctypes.c_int, ctypes.c_double, _p, _p, _p,
                          _i64, _p, ctypes.c_int, _p, _p, _p, ctypes.c_int],
    "pattern_outer": [_i64, _i64, _i64, _p, _p, _p, _p, ctypes.c_int, _p, ctypes.c_int],
    "csr_matmul_rows": [_i64, _i64, _i64, _p, _p, _p, _p, _p, ctypes.c_int],
    "gather_values": [_i64, _i64, _i64, _p, _p, _p, ctypes.c_int],
    "csr_symmetric": [_i64, _i64, _i64, _p, _p, _p, ctypes.c_double, ctypes.c_int],
    "gram_assemble": [_i64, _i64, _i64, _i64, _i64, _i64, _i64, _p, _p, _p, _p, _p, _p, _p, _p, _p, _i64, _p],
    "gram_vjp": [_i64, _i64, _i64, _i64, _i64, _i64, _i64, _p, _p, _p, _p, _p, _p, _p, ctypes.c_int],
    "csr_spgemm": [_i64, _i64, _p, _p, _p, _p, _p, _p, _p, _p, ctypes.c_int],
    "sa_prolongator": [_i64, _i64, _p, _p, _p, _p, _p, _p, ctypes.c_double, _p, _p, ctypes.c_int],
    "rows_collect": [_p, _p, _p, _p],
    "rows_discard": [_p],
    "sym_residual": [_i64, _i64, _p, _p, _p, _p, _p, _p, _p, ctypes.c_int],
    "mg_cycle_apply": [_i64, _p, _p, _p, _p, _i64, _i64, _i64, ctypes.c_int, _p, _p, _p, _p, ctypes.c_int,
                       ctypes.c_int],
    "sym_layout_own": [_i64, _i64, _p, _p, _p, _p, _p, _p, _p, ctypes.c_int],
    "mg_cg": [_i64, _p, _p, _p, _p, _i64, _i64, _i64, ctypes.c_int, _p, _p, _i64, _p, _p, _p, _p, _p, _p, _p, _p,
              _p, _p, ctypes.c_int, _i64, _i64, _i64, ctypes.c_double, ctypes.c_int, _p, _p, _p, _p, _p,
              ctypes.c_int],
}
_RESTYPES = {"jacobi_cg": _i64, "jacobi_richardson": _i64, "pattern_outer": None, "csr_matmul_rows": None,
             "gather_values": None, "csr_symmetric": ctypes.c_int, "gram_assemble": None,
             "gram_vjp": None, "csr_spgemm": ctypes.c_int,
             "sa_prolongator": ctypes.c_int, "rows_collect": None, "rows_discard": None,
             "sym_residual": None, "mg_cycle_apply": None, "mg_cg": _i64,
             "sym_layout_own": ctypes.c_int}
# Larger batches go through the loops in chunks: the kernels keep per-sample sums on the
# threads' stacks.
_MAX_BATCH = 256


def _source_hash() -> str:
    """The digest setup.py embeds in the library (the same bytes, the same recipe)."""
    digest = hashlib.sha256()
    for path in _SOURCES:
        digest.update(path.read_bytes().replace(b"\r\n", b"\n"))
    return digest.hexdigest()[:16]


def _library_file() -> Path | None:
    here = Path(__file__).parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = here / f"_csr_kernels{suffix}"
        if candidate.exists():
            return candidate
    return None


@lru_cache(maxsize=1)
def _load() -> tuple[ctypes.CDLL | None, str]:
    """(library, "") or (None, why the torch loops run instead)."""
    path = _library_file()
    if path is None:
        return None, ("the fused CPU kernels were not built when fem_prdp was installed (no C compiler then); "
                      "reinstall with one to use them (pip install --force-reinstall --no-deps .)")
    try:
        lib = ctypes.CDLL(str(path))
        built_from = lib.fem_prdp_kernels_source_hash
        built_from.restype = ctypes.c_char_p
        built_from = built_from().decode()
    except (OSError, AttributeError) as err:
        return None, f"the fused CPU kernels in {path.name} could not be loaded ({err}); reinstall fem_prdp"
    if built_from != _source_hash():
        return None, (f"the fused CPU kernels in {path.name} were built from other sources than these "
                      "(an edited checkout?); reinstall to rebuild them (pip install -e .)")
    for name, argtypes in _ARGTYPES.items():
        for suffix in _SUFFIX.values():
            fn = getattr(lib, f"{name}_{suffix}")
            fn.argtypes, fn.restype = argtypes, _RESTYPES[name]
    return lib, ""


def _library() -> ctypes.CDLL | None:
    return _load()[0]


def status() -> str:
    """One line: which loops solves take on the CPU here, and why."""
    if not _enabled:
        return "torch loops: the fused kernels are switched off (FEM_PRDP_NATIVE=0)"
    lib, reason = _load()
    if lib is None:
        return f"torch loops: {reason}"
    threads = "OpenMP, torch's thread pool" if lib.fem_prdp_kernels_openmp() else "single-threaded (no OpenMP)"
    return f"fused native kernels ({threads}; built at install)"


def available() -> bool:
    """True when the fused kernels are enabled and installed (loads them on first call)."""
    return _enabled and _library() is not None


@contextlib.contextmanager
def enabled(flag: bool):
    """Switch the fused kernels on or off inside a `with` block (tests compare both paths)."""
    global _enabled
    old, _enabled = _enabled, flag
    try:
        yield
    finally:
        _enabled = old


def usable(*tensors: torch.Tensor) -> bool:
    """True when the fused kernels can take these tensors: CPU, one float dtype, no autograd."""
    if not _enabled or torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return False
    first = tensors[0]
    if first.device.type != "cpu" or first.dtype not in _SUFFIX:
        return False
    if any(t.device != first.device or t.dtype != first.dtype for t in tensors):
        return False
    return _library() is not None


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _rows_last(v: torch.Tensor) -> torch.Tensor:
    """[B, n] -> contiguous [n, B] (the kernels' layout; a free view when B = 1)."""
    return v.reshape(-1).contiguous() if v.shape[0] == 1 else v.t().contiguous()


def _in_chunks(method: str, crow, col, values, inv_diag, b, x0, max_iters, tol, check, omega, mid):
    """Solve a batch larger than the kernels take as independent chunks; the result is that
    of one batched solve (a sample that stopped early repeats its last residual norm in the
    history rows its chunk did not run, as the batched loop records for frozen samples)."""
    B = b.shape[0]
    tol = tol.expand(B)
    parts = []
    for lo in range(0, B, _MAX_BATCH):
        sl = slice(lo, lo + _MAX_BATCH)
        parts.append(_fused_loop(method, crow, col, values[sl] if values.ndim == 2 else values,
                                 inv_diag[sl] if inv_diag is not None and inv_diag.ndim == 2 else inv_diag,
                                 b[sl], x0[sl], max_iters, tol[sl], check, omega, mid))
    if any(p is None for p in parts):  # a symmetric layout's team size was not met
        return None
    rows = max(p[3].shape[0] for p in parts)
    history = torch.cat([torch.cat([h, h[-1:].expand(rows - h.shape[0], -1)]) for *_, h in parts], dim=1)
    return (torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]),
            torch.cat([p[2] for p in parts]), history)


def _fused_loop(method: str, crow, col, values, inv_diag, b, x0, max_iters: int, tol: torch.Tensor, check: bool,
                omega: float | None = None, mid: torch.Tensor | None = None):
    if b.shape[0] > _MAX_BATCH:
        return _in_chunks(method, crow, col, values, inv_diag, b, x0, max_iters, tol, check, omega, mid)
    lib = _library()
    B, n = b.shape
    dtype = b.dtype
    # [n, B] layout: the B values of one row are adjacent, so one matrix pass serves all.
    rhs = _rows_last(b)
    x = x0.reshape(-1).clone() if B == 1 else x0.t().contiguous()  # never x0's own storage
    work = [torch.empty_like(rhs) for _ in range(3 if method == "jacobi_cg" else 1)]
    vals = values.contiguous()
    vstride = vals.shape[-1] if vals.ndim == 2 else 0
    dinv = None
    if inv_diag is not None:
        dinv = _rows_last(inv_diag) if inv_diag.ndim == 2 else inv_diag.contiguous()
    tol64 = np.ascontiguousarray(tol.detach().to(torch.float64).expand(B).cpu().numpy())
    status = np.empty(B, dtype=np.int64)
    n_iters = np.empty(B, dtype=np.int64)
    history = np.empty((max_iters + 1) * B, dtype=np.float64)
    crow, col = crow.contiguous(), col.contiguous()  # kept alive by name while C reads them
    head = [n, B, _ptr(crow)] + ([_ptr(mid)] if method == "jacobi_cg" else [])
    head += [_ptr(col), _ptr(vals), vstride, _ptr(dinv), int(dinv is not None and dinv.ndim == 2)]
    if omega is not None:
        head.append(float(omega))
    steps = getattr(lib, f"{method}_{_SUFFIX[dtype]}")(
        *head, _ptr(rhs), _ptr(x), *(_ptr(w) for w in work), max_iters, tol64.ctypes.data, int(check),
        status.ctypes.data, n_iters.ctypes.data, history.ctypes.data, layout_parts(),
    )
    if steps == -2:
        return None
    if steps < 0:
        raise MemoryError(f"fem_prdp native {method}: could not allocate its work arrays")
    hist = torch.from_numpy(history[: (steps + 1) * B].reshape(steps + 1, B)).to(dtype)
    return x.reshape(n, B).t().contiguous(), torch.from_numpy(status), torch.from_numpy(n_iters), hist


def jacobi_cg(crow, col, values, inv_diag, b, x0, max_iters: int, tol: torch.Tensor, check: bool,
              layout: SymmetricLayout | None = None, halves: torch.Tensor | None = None):
    """Jacobi-preconditioned CG on B systems in one fused loop (see `CG` for the method).

    Args:
        crow: [n + 1] int32, col: [nnz] int32. The CSR pattern.
        values: [nnz] (one matrix) or [B, nnz] (one per sample).
        layout: the pattern's `SymmetricLayout`, or None. With one, A is multiplied from its
            diagonal and lower half when `values` are symmetric to round-off (every matrix of
            the batch: `SymmetricLayout.values`); otherwise, or when OpenMP runs another team
            size than the layout's, the plain CSR loop runs.
        halves: `layout.values(values)` when the caller has it already (at 512k nodes the
            symmetry check and gather take ~55 ms, 2% of a Jacobi-PCG solve).
        inv_diag: [n] or [B, n] 1/diag(A), or None (no preconditioner).
        b, x0: [B, n]. Right-hand sides and start.
        max_iters: the cap K. tol: [B] float64 absolute residual tolerances.
        check: stop early when every sample has stopped (False: run exactly K iterations).

    Returns:
        (x [B, n], status [B] int64 (SolveStatus codes), n_iters [B] int64,
        history [steps + 1, B] residual norms in b's dtype).
    """
    if layout is not None and layout.parts == layout_parts():
        halves = layout.values(values) if halves is None else halves
        if halves is not None:
            o = layout.order
            out = _fused_loop("jacobi_cg", layout.crow, layout.col, halves, None if inv_diag is None else inv_diag[..., o],
                              b[:, o], x0[:, o], max_iters, tol, check, mid=layout.mid)
            if out is not None:
                x = torch.empty_like(out[0])
                x[:, o] = out[0]
                return (x, *out[1:])
    return _fused_loop("jacobi_cg", crow, col, values, inv_diag, b, x0, max_iters, tol, check)


def jacobi_richardson(crow, col, values, inv_diag, omega: float, b, x0, max_iters: int, tol: torch.Tensor,
                      check: bool):
    """Jacobi-preconditioned Richardson (the weighted Jacobi method) in one fused loop (see
    `Richardson`); arguments and result as for `jacobi_cg`, plus the weight omega."""
    return _fused_loop("jacobi_richardson", crow, col, values, inv_diag, b, x0, max_iters, tol, check, omega)


def pattern_outer(crow, col, g: torch.Tensor, x: torch.Tensor, batched: bool) -> torch.Tensor:
    """g[row] * x[col] on the stored pattern, summed over the batch unless `batched`, for
    g: [B, n_rows], x: [B, n_cols]. Returns [nnz] or [B, nnz]."""
    lib = _library()
    B, n = g.shape
    nnz = col.shape[0]
    g_t, x_t = _rows_last(g), _rows_last(x)
    crow, col = crow.contiguous(), col.contiguous()
    out = torch.empty((B, nnz) if batched else (nnz,), dtype=g.dtype)
    getattr(lib, f"pattern_outer_{_SUFFIX[g.dtype]}")(
        n, B, nnz, _ptr(crow), _ptr(col), _ptr(g_t), _ptr(x_t), int(batched), _ptr(out), torch.get_num_threads(),
    )
    return out


def matmul_rows(crow, col, values: torch.Tensor, shape: tuple[int, int], x: torch.Tensor,
                out: torch.Tensor | None = None) -> torch.Tensor:
    """y = A x[b] for every row b of x: [B, n_cols] -> [B, n_rows], one shared matrix
    (values [nnz]), one pass over it for all B vectors. Writes into `out` when given
    (contiguous, [B, n_rows])."""
    lib = _library()
    x = x.contiguous()
    vals, crow, col = values.contiguous(), crow.contiguous(), col.contiguous()
    B = x.shape[0]
    y = out if out is not None else torch.empty((B, shape[0]), dtype=x.dtype)
    getattr(lib, f"csr_matmul_rows_{_SUFFIX[x.dtype]}")(
        shape[0], shape[1], B, _ptr(crow), _ptr(col), _ptr(vals), _ptr(x), _ptr(y), torch.get_num_threads(),
    )
    return y


def csr_symmetric(crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor | None, tol: float) -> bool:
    """True when the CSR pattern (int32, sorted rows) stores a_ji with every a_ij and, given
    `values` ([nnz] or [B, nnz], `usable` tensors), |a_ij - a_ji| <= tol for each matrix. One
    pass, no transpose formed (each mirror is found by bisection in its row)."""
    crow, col = crow.contiguous(), col.contiguous()
    vals = values.contiguous() if values is not None else None
    B = vals.shape[0] if vals is not None and vals.ndim == 2 else 1
    dtype = vals.dtype if vals is not None else torch.float64
    return bool(getattr(_library(), f"csr_symmetric_{_SUFFIX[dtype]}")(
        crow.shape[0] - 1, B, col.shape[0], _ptr(crow), _ptr(col), _ptr(vals), tol, torch.get_num_threads()))


def sym_residual(layout: SymmetricLayout, halves: torch.Tensor, r: torch.Tensor | None, x: torch.Tensor,
                 out: torch.Tensor | None = None) -> torch.Tensor:
    """r - A x (r None: A x) for one vector (r, x: [n], in the layout's numbering
    and the dtype of `halves`, A's values in the layout: `SymmetricLayout.values`), from A's
    diagonal and lower half: ~60% of plain CSR's bytes. Written into `out` when given
    (contiguous, not r or x)."""
    x, r = x.contiguous(), (None if r is None else r.contiguous())
    y = torch.empty_like(x) if out is None else out
    getattr(_library(), f"sym_residual_{_SUFFIX[halves.dtype]}")(
        x.shape[0], layout.parts, _ptr(layout.crow), _ptr(layout.mid), _ptr(layout.col), _ptr(halves), _ptr(r),
        _ptr(x), _ptr(y), torch.get_num_threads())
    return y


class MultigridCycle:
    """A smoothed-aggregation cycle with Chebyshev smoothing (`amg.AMG`) laid out for
    `mg_cycle_apply`, which applies it to one vector in one call: every level's passes in
    one parallel region instead of ~20 library calls a level.

    Args:
        levels: per smoothed level, finest first, (A, inv_d, interval, P, R): A as
            (crow, mid, col, values, parts) (mid None and parts 0: plain CSR; else the
            symmetric layout), P and R as (crow, col, values), interval (lower, upper) of the
            Chebyshev smoother; int32 indices, values of one float dtype, contiguous, CPU.
        coarse_inv: [m, m] the coarsest level's inverse. degree, pre, post: the Chebyshev
            degree and sweeps before / after the coarse correction; w_cycle: each smoothed
            coarse level solved by two steps of its cycle.

    Holds the tensors it points at (and its scratch, 4 vectors on the finest level and 6 on
    each other one), so it stays valid as long as it lives. One application at a time: two
    threads applying the same object at once would share that scratch.
    """

    def __init__(self, levels: list, coarse_inv: torch.Tensor, degree: int, pre: int, post: int, w_cycle: bool):
        if len(levels) > 63:
            raise ValueError(f"MultigridCycle: at most 63 smoothed levels, got {len(levels)}")
        self.dtype = coarse_inv.dtype
        self._coarse_inv = coarse_inv
        self._keep = []
        pointers = []
        for (crow, mid, col, values, _), inv_d, _, P, R in levels:
            for t in (crow, mid, col, values, inv_d, *P, *R):
                if t is not None and not t.is_contiguous():
                    raise ValueError("MultigridCycle: every tensor must be contiguous")
                self._keep.append(t)
                pointers.append(_ptr(t))
        sizes = [int(level[1].shape[0]) for level in levels] + [int(coarse_inv.shape[0])]
        self.n = sizes[0]
        self._sizes = np.asarray(sizes, dtype=np.int64)
        self._parts = np.asarray([level[0][4] for level in levels] or [0], dtype=np.int64)
        self._intervals = np.asarray([level[2] for level in levels] or [(0.0, 0.0)], dtype=np.float64).reshape(-1)
        self._pointers = (ctypes.c_void_p * max(len(pointers), 1))(*pointers)
        self._work = torch.empty(6 * sum(sizes) - 2 * sizes[0], dtype=self.dtype)  # 4 vectors on level 0
        self._n_levels, self._degree, self._pre, self._post, self._w = len(levels), degree, pre, post, int(w_cycle)
        self._fn = getattr(_library(), f"mg_cycle_apply_{_SUFFIX[self.dtype]}")
        self._cg = getattr(_library(), f"mg_cg_{_SUFFIX[self.dtype]}")

    def _head(self) -> tuple:
        """The cycle's arguments, as both kernels take them."""
        return (self._n_levels, self._sizes.ctypes.data, self._parts.ctypes.data, self._pointers,
                self._intervals.ctypes.data, self._degree, self._pre, self._post, self._w, _ptr(self._coarse_inv),
                _ptr(self._work))

    def apply_into(self, r: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """out = B r for r, out [n] contiguous CPU vectors, both float64 or both the cycle's
        dtype (converted on the way in and out)."""
        io_double = r.dtype == torch.float64
        if r.dtype != out.dtype or not (io_double or r.dtype == self.dtype):
            raise ValueError(f"MultigridCycle: r and out must both be float64 or {self.dtype}")
        if r.shape != (self.n,) or out.shape != (self.n,) or not (r.is_contiguous() and out.is_contiguous()):
            raise ValueError(f"MultigridCycle: r and out must be contiguous [{self.n}] vectors, got "
                             f"{tuple(r.shape)} and {tuple(out.shape)}")
        self._fn(*self._head(), _ptr(r), _ptr(out), int(io_double), torch.get_num_threads())
        return out

    def cg(self, layout: SymmetricLayout, halves: torch.Tensor, b: torch.Tensor, x0: torch.Tensor, max_iters: int,
           tol: float, check: bool, record: int = 0):
        """CG preconditioned by this cycle on one float64 system A x = b, the whole loop in
        the kernel `mg_cg`: the iteration, statuses and history of `krylov.CG` (see there).

        Args:
            layout, halves: A in its symmetric layout (`CSRPattern.symmetric_halves`),
                float64 values. b, x0: [n] float64. tol: the residual norm to reach; check:
                stop there (else run the cap, as a solve with rtol = atol = 0 does).
            record: keep the first `record` search directions (for `ConjugateDirections`).

        Returns (x [n], status (-1: capped), live iterations, history [steps + 1] float64,
        directions: a list of (block [rows, n] float32, rows of up to 8, its p^T A p [rows]
        float64))."""
        for name, t in (("b", b), ("x0", x0), ("halves", halves)):
            if t.dtype != torch.float64 or not usable(t):
                raise ValueError(f"MultigridCycle.cg: {name} must be a float64 CPU tensor")
        if b.shape != (self.n,) or x0.shape != (self.n,):
            raise ValueError(f"MultigridCycle.cg: b and x0 must be [{self.n}] vectors, got {tuple(b.shape)} and "
                             f"{tuple(x0.shape)}")
        rhs, x = b.contiguous(), x0.clone(memory_format=torch.contiguous_format)
        r, p, q = (torch.empty_like(x) for _ in range(3))
        rz, status, n_iters = np.zeros(1), np.full(1, -1, dtype=np.int64), np.zeros(1, dtype=np.int64)
        history = np.empty(max_iters + 1, dtype=np.float64)
        operator = (layout.parts, _ptr(layout.crow), _ptr(layout.mid), _ptr(layout.col), _ptr(halves.contiguous()))
        blocks = []
        done, first = 0, True
        while True:
            # Directions go into blocks handed out as the solve reaches them: a short solve
            # never allocates a long one's storage.
            rows = min(8, record - done) if done < record else 0
            block = torch.empty((rows, self.n), dtype=torch.float32) if rows else None
            curv = np.empty(max(rows, 1), dtype=np.float64)
            steps = self._cg(*self._head(), *operator, _ptr(rhs), _ptr(x), _ptr(r), _ptr(p), _ptr(q), rz.ctypes.data,
                             int(first), done, rows if rows else max_iters - done, max_iters,
                             float(tol), int(check), status.ctypes.data, n_iters.ctypes.data, history.ctypes.data,
                             _ptr(block), curv.ctypes.data if rows else None, torch.get_num_threads())
            if steps < 0:
                raise MemoryError("fem_prdp native mg_cg: could not allocate its work arrays")
            if rows and steps:
                blocks.append((block[:steps], torch.from_numpy(curv[:steps])))
            done, first = done + steps, False
            if status[0] >= 0 and not check:  # stopped early: the kernel filled the history to the cap
                done = max_iters
            if status[0] >= 0 or done >= max_iters:
                break
        return x, int(status[0]), int(n_iters[0]), torch.from_numpy(history[: done + 1]), blocks


def layout_parts() -> int:
    """Threads the fused loops run on (torch's count; 1 without OpenMP): the blocks of rows
    a `SymmetricLayout` is built for."""
    lib = _library()
    return max(torch.get_num_threads(), 1) if lib is not None and lib.fem_prdp_kernels_openmp() else 1


def sym_layout_own(crow: torch.Tensor, col: torch.Tensor, parts: int):
    """(crow [n + 1], mid [n], col [m], src [m]) int32: the `SymmetricLayout` arrays of a
    structurally symmetric CSR pattern (int32, sorted rows) in its own numbering, for `parts`
    blocks of rows; None when a row has no diagonal entry. Two passes of the kernel
    `sym_layout_own`, nothing allocated beyond the result and one count a row."""
    fn = _library().sym_layout_own_f64  # no values: either instantiation
    crow, col = crow.contiguous(), col.contiguous()
    n = crow.shape[0] - 1
    count = torch.empty(n, dtype=torch.int32)
    if fn(n, parts, _ptr(crow), _ptr(col), _ptr(count), None, None, None, None, torch.get_num_threads()) < 0:
        return None
    out_crow = torch.zeros(n + 1, dtype=torch.int64)
    torch.cumsum(count, 0, out=out_crow[1:])
    out_crow = out_crow.to(torch.int32)  # m <= nnz < 2^31
    m = int(out_crow[-1])
    mid, out_col, src = count, torch.empty(m, dtype=torch.int32), torch.empty(m, dtype=torch.int32)  # count reused
    fn(n, parts, _ptr(crow), _ptr(col), None, _ptr(out_crow), _ptr(mid), _ptr(out_col), _ptr(src),
       torch.get_num_threads())
    return out_crow, mid, out_col, src


def gather_values(values: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    """values[..., src] for values [nnz] or [B, nnz] (`usable`) and src [m] int32."""
    vals, src = values.contiguous(), src.contiguous()
    out = torch.empty((*vals.shape[:-1], src.shape[0]), dtype=vals.dtype)
    getattr(_library(), f"gather_values_{_SUFFIX[vals.dtype]}")(
        vals.shape[0] if vals.ndim == 2 else 1, vals.shape[-1], src.shape[0], _ptr(vals), _ptr(src), _ptr(out),
        torch.get_num_threads())
    return out


def _strides(f: torch.Tensor) -> np.ndarray:
    """[cell, local, point, component] element strides of a Gram feature array ([C, L, Q, K],
    or [L, Q, K] shared by every cell: cell stride 0)."""
    return np.array(([0] if f.ndim == 3 else []) + list(f.stride()), dtype=np.int64)


def gram_assemble(slot: torch.Tensor, w: torch.Tensor, fv: torch.Tensor, fu: torch.Tensor, nnz: int,
                  blocks: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """out[b, slot[c, a, e]] summed over cells of sum_q w[b, c, q] (fv[c, a, q, :] .
    fu[c, e, q, :]): an assembled Gram form's values [B, nnz] (`fem.gram`) in one pass over
    the cells, no element matrices formed. slot [C * Lv * Lu] int64; w [B, C, Q] (`usable`);
    fv, fu as for `gram_vjp`; blocks: (sb [P + 1], clo [P], chi [P]) int64, each of P
    threads' range of values and the cells that reach it (`fem.gram.thread_blocks`)."""
    w, slot = w.contiguous(), slot.contiguous()
    Lv, Q, K = fv.shape[-3:]
    Lu = fu.shape[-3]
    B, C = w.shape[:2]
    out = torch.empty((B, nnz), dtype=w.dtype)
    sb, clo, chi = (b.contiguous() for b in blocks)
    fs, us = _strides(fv), _strides(fu)
    getattr(_library(), f"gram_assemble_{_SUFFIX[w.dtype]}")(
        B, C, Lv, Lu, Q, K, nnz, _ptr(slot), _ptr(w), _ptr(fv), fs.ctypes.data, _ptr(fu), us.ctypes.data,
        _ptr(sb), _ptr(clo), _ptr(chi), clo.numel(), _ptr(out))
    return out


def gram_vjp(slot: torch.Tensor, g: torch.Tensor, fv: torch.Tensor, fu: torch.Tensor) -> torch.Tensor:
    """out[b, c, q] = sum_{a, e} g[b, slot[c, a, e]] (fv[c, a, q, :] . fu[c, e, q, :]): the
    gradient of an assembled Gram form's values with respect to its per-cell quadrature
    weights (`fem.gram`), in one pass over the cells. slot [C * Lv * Lu] int64; g [B, nnz]
    (`usable`); fv [C, Lv, Q, K] or [Lv, Q, K] (shared by the cells), fu likewise with Lu,
    in any layout (read through their strides, not copied). Returns [B, C, Q]."""
    g, slot = g.contiguous(), slot.contiguous()
    Lv, Q, K = fv.shape[-3:]
    Lu = fu.shape[-3]
    C = slot.shape[0] // (Lv * Lu)
    B, nnz = g.shape
    out = torch.empty((B, C, Q), dtype=g.dtype)
    fs, us = _strides(fv), _strides(fu)
    getattr(_library(), f"gram_vjp_{_SUFFIX[g.dtype]}")(
        B, C, Lv, Lu, Q, K, nnz, _ptr(slot), _ptr(g), _ptr(fv), fs.ctypes.data, _ptr(fu), us.ctypes.data, _ptr(out),
        torch.get_num_threads())
    return out


def _built_rows(fn, n: int, args: tuple, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run a one-pass CSR builder (fn(*args, count, handle, threads): each thread builds its
    block of rows into its own buffers and counts them) and collect its rows: (crow int64
    [n + 1], col int32, values) of the matrix it builds."""
    lib = _library()
    count = torch.empty(n, dtype=torch.int64)
    handle = ctypes.c_void_p()
    if fn(*args, _ptr(count), ctypes.addressof(handle), torch.get_num_threads()) != 0:
        raise MemoryError(f"{fn.__name__}: out of memory")
    suffix = _SUFFIX[dtype]
    try:
        crow = torch.zeros(n + 1, dtype=torch.int64)
        torch.cumsum(count, 0, out=crow[1:])
        col = torch.empty(int(crow[-1]), dtype=torch.int32)
        val = torch.empty(int(crow[-1]), dtype=dtype)
    except BaseException:
        getattr(lib, f"rows_discard_{suffix}")(handle)
        raise
    getattr(lib, f"rows_collect_{suffix}")(handle, _ptr(crow), _ptr(col), _ptr(val))  # frees the buffers
    return crow, col, val


def csr_spgemm(a: tuple[torch.Tensor, torch.Tensor, torch.Tensor], b: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
               n_cols: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """C = A B of two CSR matrices given as (crow [n + 1] int32, col int32, values), B with
    `n_cols` columns: (crow int64, col int32, values) of C, each row sorted by column. Rows
    in parallel, each thread's block built once into its own buffers, then copied into place."""
    (ac, aj, av), (bc, bj, bv) = ((i.to(torch.int32).contiguous(), j.to(torch.int32).contiguous(), v.contiguous())
                                  for i, j, v in (a, b))
    fn = getattr(_library(), f"csr_spgemm_{_SUFFIX[av.dtype]}")
    return _built_rows(fn, ac.numel() - 1, (ac.numel() - 1, n_cols, _ptr(ac), _ptr(aj), _ptr(av), _ptr(bc), _ptr(bj),
                                          _ptr(bv)), av.dtype)


def sa_prolongator(a: tuple[torch.Tensor, torch.Tensor, torch.Tensor], agg: torch.Tensor, t: torch.Tensor,
                   w: torch.Tensor | float, n_agg: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """P = T - diag(w) A T as CSR (crow int64, col int32, values), T [n, n_agg] holding t[j]
    at (j, agg[j]) (agg int32 [n], -1: no aggregate); A as (crow int32, col int32, values).
    w: the weights [n], or a number omega for w_i = omega / sum_j |a_ij| (0 for a zero row),
    summed in the kernel's pass over A."""
    ac, aj, av = a[0].to(torch.int32).contiguous(), a[1].to(torch.int32).contiguous(), a[2].contiguous()
    agg, t = agg.to(torch.int32).contiguous(), t.to(av.dtype).contiguous()
    weights, omega = (w.to(av.dtype).contiguous(), 0.0) if isinstance(w, torch.Tensor) else (None, float(w))
    n = ac.numel() - 1
    fn = getattr(_library(), f"sa_prolongator_{_SUFFIX[av.dtype]}")
    return _built_rows(fn, n, (n, n_agg, _ptr(ac), _ptr(aj), _ptr(av), _ptr(agg), _ptr(t), _ptr(weights), omega),
                     av.dtype)
