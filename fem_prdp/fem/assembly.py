"""Vectorised assembly onto cached sparsity patterns.

The pattern and the scatter map of each (trial, test) space pair are computed once and
cached on the test space; re-assembly is one pass over the cells (the form evaluated at all
quadrature points at once) and one `index_add` into the values, so it is differentiable in
every coefficient through plain autograd. A leading batch dimension on a coefficient gives
one matrix per sample on the shared pattern.

Coefficients may be: a Python number; a tensor per cell [C] or [B, C]; a `Field` (dof
values on a `FunctionSpace`, [n_dofs] or [B, n_dofs]); or a callable of the physical
points x [..., dim] (evaluated at the quadrature points).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..linalg import CSRPattern, SparseMatrix
from .element import basis
from .forms import BasisAtPoints, BilinearForm, Coefficients, LinearForm
from .gram import gram_values
from .quadrature import quadrature
from .space import FunctionSpace

__all__ = ["Field", "ElementData", "element_data", "assemble_matrix", "assemble_vector", "matrix_pattern", "block_matrix", "lumped_mass"]


@dataclass
class Field:
    """A finite-element function: dof values [n_dofs] or [B, n_dofs] on `space`."""

    space: FunctionSpace
    values: torch.Tensor

    def at_quadrature(self, degree: int) -> torch.Tensor:
        """[..., C, Q] (scalar) or [..., C, Q, dim] (vector) values at the quadrature points."""
        vals, _ = _reference_basis(self.space, degree)
        sp = self.space
        comps = []
        for c in range(sp.n_components):
            u = self.values[..., c * sp.n_scalar_dofs : (c + 1) * sp.n_scalar_dofs]
            comps.append(torch.einsum("...cl,lq->...cq", u[..., sp.scalar_cell_dofs], vals))
        return comps[0] if sp.shape == () else torch.stack(comps, -1)


def _reference_basis(space: FunctionSpace, degree: int):
    key = ("ref_basis", degree)
    if key not in space._cache:
        q = quadrature(space.dim, degree)
        pts = q.points(space.dtype, space.device)
        space._cache[key] = basis(pts, space.degree)
    return space._cache[key]


@dataclass
class ElementData:
    """Basis data of one space at one quadrature degree (cached on the space).

    value: [L, Q]; grad: [C, L, Q, d]; grad_t: [C, Q * d, L] (the layout a batched matmul
    wants, stored once so re-assembly does not permute); wdet: [C, Q] weights * |det J|;
    x: [C, Q, d] physical quadrature points."""

    value: torch.Tensor
    grad: torch.Tensor
    grad_t: torch.Tensor
    wdet: torch.Tensor
    x: torch.Tensor


def element_data(space: FunctionSpace, degree: int) -> ElementData:
    """Basis values, physical gradients, weights and points of `space` at the quadrature
    rule of `degree` (cached on the space): the data forms and functionals integrate with."""
    key = ("basis", degree)
    if key not in space._cache:
        q = quadrature(space.dim, degree)
        vals, ref_grads = _reference_basis(space, degree)
        grads = space.physical_gradients(ref_grads)
        C, L, Q, d = grads.shape
        space._cache[key] = ElementData(
            value=vals,
            grad=grads,
            grad_t=grads.permute(0, 2, 3, 1).reshape(C, Q * d, L).contiguous(),
            wdet=space.det[:, None] * q.weights(space.dtype, space.device)[None, :],
            x=space.map_points(q.points(space.dtype, space.device)),
        )
    return space._cache[key]


def _coefficient(value, space: FunctionSpace, degree: int, xq: torch.Tensor):
    """A coefficient at quadrature points, shaped [..., C, 1, 1, Q] (+ trailing vector axes)."""
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, Field):
        return _expand_cq(value.at_quadrature(degree), value.space.shape != ())
    if callable(value):
        return _expand_cq(torch.as_tensor(value(xq), dtype=space.dtype, device=space.device), None)
    value = torch.as_tensor(value, dtype=space.dtype, device=space.device)
    if value.shape[-1:] == (space.mesh.n_cells,):  # per cell: [..., C]
        return value[..., :, None, None, None]
    raise ValueError(
        f"assemble: a tensor coefficient must be per cell with shape [..., n_cells = "
        f"{space.mesh.n_cells}], got {tuple(value.shape)}; wrap dof values in Field(space, values)"
    )


def _expand_cq(at: torch.Tensor, vector: bool | None) -> torch.Tensor:
    """[..., C, Q, *trailing] -> [..., C, 1, 1, Q, *trailing]."""
    trailing = 1 if vector else 0
    if vector is None:  # callable output: [C, Q] or [C, Q, k] (k inferred from ndim)
        trailing = at.ndim - 2
    idx = at.ndim - 1 - trailing  # position of Q
    return at.unsqueeze(idx).unsqueeze(idx)


def _degree_of(value) -> int:
    """Polynomial degree a coefficient adds to the integrand (callables: assumed smooth,
    given 2 extra degrees; they are integrated approximately)."""
    if isinstance(value, Field):
        return value.space.degree
    return 2 if callable(value) else 0


def matrix_pattern(trial: FunctionSpace, test: FunctionSpace) -> tuple[CSRPattern, torch.Tensor]:
    """(pattern, slot) for the (trial, test) pair, cached on `test`. slot [C * Lv * Lu]
    maps each element-matrix entry to its position in the values."""
    key = ("pattern", id(trial))
    if key not in test._cache:
        rows = test.cell_dofs[:, :, None].expand(-1, -1, trial.cell_dofs.shape[1])
        cols = trial.cell_dofs[:, None, :].expand(-1, test.cell_dofs.shape[1], -1)
        test._cache[key] = CSRPattern.from_coo(
            rows.reshape(-1).cpu(), cols.reshape(-1).cpu(), (test.n_dofs, trial.n_dofs), device=test.device
        )
    return test._cache[key]


def assemble_matrix(
    form: BilinearForm,
    trial: FunctionSpace,
    test: FunctionSpace | None = None,
    *,
    degree: int | None = None,
    **coefficients,
) -> SparseMatrix:
    """Assemble sum over cells of the integral of `form` on scalar spaces.

    Args:
        form: a `BilinearForm` (see `fem_prdp.fem.forms`).
        trial, test: scalar `FunctionSpace`s on one mesh (test defaults to trial).
        degree: quadrature degree (default: exact for the form's polynomial order plus the
            degrees of field coefficients).
        **coefficients: named coefficients (number, per-cell tensor, Field or callable).

    Returns:
        `SparseMatrix` [test.n_dofs, trial.n_dofs]; values [nnz] or [B, nnz] when a
        coefficient is batched.
    """
    test = trial if test is None else test
    for sp in (trial, test):
        if sp.n_components != 1:
            raise ValueError(
                "assemble_matrix: forms act on scalar spaces; assemble vector "
                "problems per component and join them with block_matrix"
            )
    if trial.mesh is not test.mesh:
        raise ValueError("assemble_matrix: trial and test spaces must live on the same mesh")
    if degree is None:
        degree = max(form.order(trial.degree, test.degree), 0) + sum(
            _degree_of(v) for v in coefficients.values()
        )
    tr, te = element_data(trial, degree), element_data(test, degree)
    w = Coefficients({k: _coefficient(c, test, degree, te.x) for k, c in coefficients.items()})
    if form.gram is not None:  # stiffness, mass: a backward without autograd's temporaries
        pattern, slot = matrix_pattern(trial, test)
        return SparseMatrix(pattern, gram_values(form.gram(tr, te, w), slot, pattern.nnz))
    if form.local is not None:
        local = form.local(tr, te, w)
    else:
        u = BasisAtPoints(tr.value[None, None, :, :], tr.grad[:, None])
        v = BasisAtPoints(te.value[None, :, None, :], te.grad[:, :, None])
        w["x"] = te.x[:, None, None]
        integrand = form(u, v, w)  # [..., C, Lv, Lu, Q]
        local = torch.einsum("...cvuq,cq->...cvu", integrand, te.wdet)
    pattern, slot = matrix_pattern(trial, test)
    flat = local.reshape(*local.shape[:-3], -1)
    values = flat.new_zeros((*flat.shape[:-1], pattern.nnz)).index_add(flat.ndim - 1, slot, flat)
    return SparseMatrix(pattern, values)


def assemble_vector(
    form: LinearForm, test: FunctionSpace, *, degree: int | None = None, **coefficients
) -> torch.Tensor:
    """Assemble a load vector [test.n_dofs] (or [B, n_dofs]) from a `LinearForm`."""
    if test.n_components != 1:
        raise ValueError("assemble_vector: forms act on scalar spaces")
    if degree is None:
        degree = max(form.order(test.degree), 0) + sum(_degree_of(v) for v in coefficients.values())
    te = element_data(test, degree)
    v = BasisAtPoints(te.value[None, :, None, :], te.grad[:, :, None])
    w = Coefficients({k: _coefficient(c, test, degree, te.x) for k, c in coefficients.items()})
    w["x"] = te.x[:, None, None]
    integrand = form(v, w)  # [..., C, Lv, 1, Q]
    local = torch.einsum("...cvuq,cq->...cv", integrand, te.wdet)
    flat = local.reshape(*local.shape[:-2], -1)
    out = flat.new_zeros((*flat.shape[:-1], test.n_dofs))
    return out.index_add(flat.ndim - 1, test.cell_dofs.reshape(-1), flat)


def block_matrix(blocks: list[list[SparseMatrix | None]]) -> SparseMatrix:
    """Join matrices into one block matrix (None = zero block). The joined pattern and the
    gather map are cached on the first block's pattern, keyed by the block patterns, so
    re-joining new values is one differentiable `index_add`."""
    n_rows = [next(b.shape[0] for b in row if b is not None) for row in blocks]
    n_cols = [
        next(blocks[i][j].shape[1] for i in range(len(blocks)) if blocks[i][j] is not None)
        for j in range(len(blocks[0]))
    ]
    present = [(i, j, b) for i, row in enumerate(blocks) for j, b in enumerate(row) if b is not None]
    cache = present[0][2].pattern._cache
    key = ("block", tuple((i, j, id(b.pattern)) for i, j, b in present))
    if key not in cache:
        r_off = [sum(n_rows[:i]) for i in range(len(n_rows))]
        c_off = [sum(n_cols[:j]) for j in range(len(n_cols))]
        rows = torch.cat([b.pattern.row_indices().cpu() + r_off[i] for i, j, b in present])
        cols = torch.cat([b.pattern.col.long().cpu() + c_off[j] for i, j, b in present])
        cache[key] = CSRPattern.from_coo(rows, cols, (sum(n_rows), sum(n_cols)), device=present[0][2].device)
    pattern, slot = cache[key]
    batch = [b.values.shape[:-1] for _, _, b in present]
    shape = max(batch, key=len)
    vals = torch.cat([b.values.expand(*shape, -1) for _, _, b in present], dim=-1)
    out = vals.new_zeros((*shape, pattern.nnz)).index_add(len(shape), slot, vals)
    return SparseMatrix(pattern, out)


def lumped_mass(space: FunctionSpace, rho=1.0) -> SparseMatrix:
    """Row-sum lumped mass on the (space, space) pattern (zero off the diagonal), so it adds
    value-wise to a stiffness. P1 only: row-sum lumping of P2 gives zero or negative
    vertex weights."""
    from .forms import mass

    if space.degree != 1:
        raise ValueError("lumped_mass: row-sum lumping needs P1 (P2 gives non-positive weights)")
    M = assemble_matrix(mass, space, rho=rho)
    row, col = M.pattern.row_indices(), M.pattern.col.long()
    sums = M.values.new_zeros((*M.values.shape[:-1], space.n_dofs)).index_add(
        M.values.ndim - 1, row, M.values
    )
    return M.with_values(torch.where(row == col, sums[..., row], torch.zeros_like(M.values)))
