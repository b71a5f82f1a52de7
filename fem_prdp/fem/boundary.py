"""Boundary conditions by physical-group name.

- Dirichlet: `apply_dirichlet` eliminates the constrained dofs symmetrically (rows and
  columns zeroed, the original diagonal kept, the right-hand side lifted), so a symmetric
  positive definite matrix stays symmetric positive definite. Differentiable in the matrix
  values, the right-hand side and the boundary values.
- Neumann: `assemble_boundary_vector` integrates a flux g v over named boundaries.
- Robin: `assemble_boundary_matrix` integrates alpha u v over named boundaries (on the
  volume pattern, so it adds to a stiffness matrix value-wise).
- Periodic: `FunctionSpace(..., periodic=[(master, slave)])` identifies dofs.
- Pure Neumann / enclosed flow: fix the constant either by pinning one dof
  (`apply_dirichlet(A, b, space, dofs=pin_dof(space))`: keeps an SPD matrix SPD, so CG
  applies) or by the mean-zero constraint (`mean_value_constraint`: a bordered symmetric
  indefinite system for MINRES/GMRES, whose solution has zero mean exactly).
Every function returns new tensors and never changes the mesh or the space.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..linalg import CSRPattern, SparseMatrix
from .assembly import assemble_matrix
from .element import EDGES, basis
from .forms import mass
from .quadrature import quadrature
from .space import FunctionSpace

__all__ = [
    "dirichlet_dofs",
    "apply_dirichlet",
    "assemble_boundary_vector",
    "assemble_boundary_matrix",
    "pin_dof",
    "mean_value_constraint",
]


def dirichlet_dofs(space: FunctionSpace, *names: str, component: int | None = None) -> torch.Tensor:
    """Dofs on the named boundaries; a selection with no dofs is an error, not a no-op."""
    if not names:
        raise ValueError(
            "dirichlet_dofs: name at least one boundary; known: " + ", ".join(sorted(space.mesh.boundaries))
        )
    dofs = space.boundary_dofs(*names, component=component)
    if dofs.numel() == 0:
        raise ValueError(f"dirichlet_dofs: boundaries {names} select no dofs on {space}")
    return dofs


def dirichlet_conditions(space: FunctionSpace, conditions: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Resolve {boundary name: value} into one disjoint (dofs, values) pair.

    Where boundaries share dofs (corners), the later name in the dict wins, so applying the
    result once is consistent (applying overlapping sets one after another would lift the
    right-hand side with a value that a later set overwrites). Values: a number, a tuple
    (one per component of a vector space), a callable of dof points [N, dim] -> [N] (scalar)
    or [N, dim] (vector), or a tensor [n_dofs_of_that_boundary].
    """
    per_name = []
    owner = torch.full((space.n_dofs,), -1, dtype=torch.int64, device=space.device)
    for i, (name, value) in enumerate(conditions.items()):
        dofs = dirichlet_dofs(space, name)
        per_name.append((dofs, _values_at(space, dofs, value)))
        owner[dofs] = i  # a later boundary takes over shared dofs
    dofs_out, vals_out = [], []
    for i, (dofs, vals) in enumerate(per_name):
        keep = owner[dofs] == i
        dofs_out.append(dofs[keep])
        vals_out.append(vals[..., keep])
    if not dofs_out:
        empty = torch.zeros(0, dtype=torch.int64, device=space.device)
        return empty, torch.zeros(0, dtype=space.dtype, device=space.device)
    return torch.cat(dofs_out), torch.cat(vals_out, dim=-1)


def pin_dof(space: FunctionSpace) -> torch.Tensor:
    """A single dof (the first) to pin for pure-Neumann problems and enclosed flows."""
    return torch.zeros(1, dtype=torch.int64, device=space.device)


def mean_value_constraint(A: SparseMatrix, b: torch.Tensor, space: FunctionSpace) -> tuple[SparseMatrix, torch.Tensor]:
    """The bordered system that fixes the constant of a pure-Neumann problem by integral
    of u = 0 with a Lagrange multiplier lam:

        [ A    m ] [u  ]   [b]
        [ m^T  0 ] [lam] = [0],    m_i = integral of phi_i.

    For a compatible b (sum of b = 0) the multiplier is 0 and u is the mean-zero solution.
    The result is symmetric indefinite for a symmetric A: solve with MINRES or GMRES, then
    take u = x[..., :n]. Differentiable in A's values and b; batched values allowed.

    Args:
        A: [n, n] on the scalar `space` (values [nnz] or [B, nnz]). b: [n] or [B, n].
    Returns:
        (A_bordered [n + 1, n + 1], b_bordered [..., n + 1]).
    """
    if space.shape != () or A.shape[0] != space.n_dofs:
        raise ValueError(f"mean_value_constraint: needs a scalar space and its [n, n] matrix (n = {space.n_dofs}); "
                         f"got a {space.shape or 'scalar'} space and a matrix of shape {A.shape}")
    n = space.n_dofs
    cache = A.pattern._cache  # the bordered pattern and the weights are built once per pattern
    if "mean_border" not in cache:
        rows = torch.cat([A.pattern.row_indices().cpu(), torch.arange(n), torch.full((n + 1,), n)])
        cols = torch.cat([A.pattern.col.long().cpu(), torch.full((n,), n), torch.arange(n + 1)])
        m = assemble_matrix(mass, space)  # row sums of the mass matrix = integrals of the basis functions
        weights = torch.zeros(n, dtype=m.dtype, device=m.device).index_add(0, m.pattern.row_indices(), m.values)
        cache["mean_border"] = (*CSRPattern.from_coo(rows, cols, (n + 1, n + 1), device=A.device), weights)
    pattern, slot, weights = cache["mean_border"]
    shape = A.values.shape[:-1]
    border = torch.cat([weights, weights, weights.new_zeros(1)]).expand(*shape, -1)  # column, row, zero corner
    vals = torch.cat([A.values, border.to(A.values)], dim=-1)
    values = vals.new_zeros((*shape, pattern.nnz)).index_add(len(shape), slot, vals)
    return SparseMatrix(pattern, values), torch.cat([b, b.new_zeros(*b.shape[:-1], 1)], dim=-1)


def _values_at(space: FunctionSpace, dofs: torch.Tensor, g) -> torch.Tensor:
    if isinstance(g, (int, float)):
        return torch.full((len(dofs),), float(g), dtype=space.dtype, device=space.device)
    if isinstance(g, tuple):  # one constant per component of a vector space
        if len(g) != space.n_components:
            raise ValueError(f"apply_dirichlet: a tuple value needs {space.n_components} components, got {len(g)}")
        comp = dofs // space.n_scalar_dofs
        return torch.tensor(g, dtype=space.dtype, device=space.device)[comp]
    if callable(g):
        scalar = dofs % space.n_scalar_dofs
        vals = torch.as_tensor(g(space.dof_points[scalar]), dtype=space.dtype, device=space.device)
        if space.n_components > 1 and vals.ndim == 2:
            vals = vals.gather(1, (dofs // space.n_scalar_dofs)[:, None])[:, 0]
        return vals
    g = torch.as_tensor(g, dtype=space.dtype, device=space.device)
    if g.shape[-1] != len(dofs):
        raise ValueError(
            f"apply_dirichlet: values have shape {tuple(g.shape)}, expected [..., {len(dofs)}] "
            "(one per constrained dof)"
        )
    return g


def apply_dirichlet(
    A: SparseMatrix,
    b: torch.Tensor,
    space: FunctionSpace,
    *names: str,
    values=0.0,
    dofs: torch.Tensor | None = None,
) -> tuple[SparseMatrix, torch.Tensor]:
    """Impose u = values on the named boundaries (or on explicit `dofs`).

    Args:
        A: [n, n] matrix on `space` (values [nnz] or [B, nnz]).
        b: [n] or [B, n] right-hand side.
        values: number, callable of dof points [N, dim] -> [N] (vector spaces: [N, dim]),
            or a tensor [..., n_constrained] (differentiable).

    Returns:
        (A with constrained rows/columns eliminated, lifted b); the solution takes the
        boundary values exactly.
    """
    if dofs is None:
        dofs = dirichlet_dofs(space, *names)
    g = _values_at(space, dofs, values)
    n = A.shape[0]
    batch = torch.broadcast_shapes(A.values.shape[:-1], b.shape[:-1], g.shape[:-1])
    homogeneous = isinstance(values, (int, float)) and values == 0
    slots = A.pattern.diagonal_slots()[dofs]
    if bool((slots < 0).any()):
        missing = dofs[slots < 0][:10].tolist()
        raise ValueError(
            f"apply_dirichlet: the matrix stores no diagonal entry for dofs {missing}; "
            "assemble it with its diagonal in the pattern (assemble_oseen stores the "
            "pressure diagonal for pinning)"
        )
    # Keep the matrix's own scale on the constrained rows; a zero diagonal (the pressure
    # block of a saddle point) becomes 1.
    diag_d = A.values[..., slots]
    zero_diagonal = bool((diag_d == 0).any())
    if zero_diagonal:
        diag_d = torch.where(diag_d == 0, torch.ones_like(diag_d), diag_d)
    if homogeneous:  # nothing to lift, zeros to impose (the lifting was a 30 ms product at 512k nodes)
        b_new = b.expand(*batch, n).index_fill(len(batch), dofs, 0.0)
    else:
        g_full = torch.zeros((*batch, n), dtype=b.dtype, device=b.device).index_copy(
            len(batch), dofs, g.expand(*batch, len(dofs))
        )
        lifted = b - A.matvec(g_full)
        b_new = lifted.index_copy(lifted.ndim - 1, dofs, (diag_d * g).expand(*lifted.shape[:-1], len(dofs)))
    # One pass over the values forward and one back: a mask over every entry, the
    # diagonal copied in and their backward passes took 90 ms forward and as much back
    # at 512k nodes; the diagonal is written only where it was zero.
    values = A.values.index_fill(A.values.ndim - 1, A.pattern.eliminated_slots(dofs), 0.0)
    if zero_diagonal:
        values = values.index_copy(values.ndim - 1, slots, diag_d.expand(*values.shape[:-1], len(dofs)))
    return A.with_values(values), b_new


@dataclass
class FixedDirichlet:
    """Dirichlet elimination of a matrix that does not change between solves, done once.

    `apply_dirichlet` is affine in the right-hand side: b -> b with the constrained entries
    replaced, plus a fixed offset (the lifting -A g and diag * g on the constrained rows).
    So a stepper whose matrix is fixed constrains it once and lifts each new b with one
    cheap pass instead of re-eliminating the matrix every step.
    """

    matrix: SparseMatrix
    dofs: torch.Tensor
    offset: torch.Tensor

    def rhs(self, b: torch.Tensor) -> torch.Tensor:
        """The constrained right-hand side for b [n] or [B, n]."""
        return b.index_fill(b.ndim - 1, self.dofs, 0.0) + self.offset


def prepare_dirichlet(A: SparseMatrix, space: FunctionSpace, dofs: torch.Tensor, values) -> FixedDirichlet:
    """Constrain the fixed matrix A once (see `FixedDirichlet`); no dofs: A unchanged."""
    zero = torch.zeros(A.shape[0], dtype=A.dtype, device=A.device)
    if len(dofs) == 0:
        return FixedDirichlet(A, dofs, zero)
    matrix, offset = apply_dirichlet(A, zero, space, dofs=dofs, values=values)
    return FixedDirichlet(matrix, dofs, offset)


def _facet_data(space: FunctionSpace, names: tuple[str, ...], degree: int):
    """(facet dofs [F, Lf], basis values [Lf, Q], weights * measure [F, Q], points [F, Q, d])."""
    key = ("facets", names, degree)
    if key in space._cache:
        return space._cache[key]
    mesh = space.mesh
    d = mesh.dim
    facets = mesh.boundary_facets(*names).to(space.device)
    pts = mesh.points.to(device=space.device, dtype=space.dtype)[facets]  # [F, d, d]
    if d == 1:
        vals = torch.ones(1, 1, dtype=space.dtype, device=space.device)
        wmeas = torch.ones(len(facets), 1, dtype=space.dtype, device=space.device)
        xq = pts
        raw = facets
    else:
        q = quadrature(d - 1, degree)
        ref = q.points(space.dtype, space.device)
        vals, _ = basis(ref, space.degree)
        edges = pts[:, 1:] - pts[:, :1]  # [F, d-1, d]
        gram = edges @ edges.transpose(1, 2)
        measure = torch.sqrt(torch.linalg.det(gram))  # (d-1)! * facet measure
        wmeas = measure[:, None] * q.weights(space.dtype, space.device)[None, :]
        xq = pts[:, :1] + torch.einsum("qk,fkd->fqd", ref, edges)
        raw = facets
        if space.degree == 2:
            n = mesh.n_nodes
            all_edges = mesh.edges().to(space.device)
            keys = all_edges[0] * n + all_edges[1]
            local = [
                torch.searchsorted(
                    keys,
                    torch.minimum(facets[:, i], facets[:, j]) * n + torch.maximum(facets[:, i], facets[:, j]),
                )
                + n
                for i, j in EDGES[d - 1]
            ]
            raw = torch.cat([facets, torch.stack(local, 1)], 1)
    dofs = space._raw_to_dof.to(space.device)[raw]
    space._cache[key] = (dofs, vals, wmeas, xq)
    return space._cache[key]


def _boundary_coefficient(g, xq: torch.Tensor, space: FunctionSpace) -> torch.Tensor:
    if isinstance(g, (int, float)):
        return torch.full(xq.shape[:-1], float(g), dtype=space.dtype, device=space.device)
    if callable(g):
        return torch.as_tensor(g(xq), dtype=space.dtype, device=space.device)
    g = torch.as_tensor(g, dtype=space.dtype, device=space.device)
    return g[..., :, None].expand(*g.shape, xq.shape[1])  # per facet [..., F]


def _degree(g, space: FunctionSpace) -> int:
    return 2 * space.degree + (2 if callable(g) else 0)


def assemble_boundary_vector(space: FunctionSpace, *names: str, g=1.0) -> torch.Tensor:
    """[n_dofs] (or [B, n_dofs]): the integral of g v over the named boundaries (Neumann
    flux, or alpha * g for a Robin condition). g: number, callable of points [..., dim],
    or per-facet tensor [..., F] in `mesh.boundary_facets(*names)` order."""
    if space.n_components != 1:
        raise ValueError("assemble_boundary_vector: scalar spaces only (assemble per component)")
    dofs, vals, wmeas, xq = _facet_data(space, tuple(names), _degree(g, space))
    gq = _boundary_coefficient(g, xq, space)  # [..., F, Q]
    local = torch.einsum("...fq,lq,fq->...fl", gq, vals, wmeas)
    flat = local.reshape(*local.shape[:-2], -1)
    return flat.new_zeros((*flat.shape[:-1], space.n_dofs)).index_add(flat.ndim - 1, dofs.reshape(-1), flat)


def assemble_boundary_matrix(
    space: FunctionSpace, *names: str, alpha=1.0, like: SparseMatrix | None = None
) -> SparseMatrix:
    """The boundary mass matrix: integral of alpha u v over the named boundaries (Robin).

    The entries are stored on the volume pattern of `like` (default: the space's own
    (space, space) pattern) so `K.values + R.values` adds a Robin term to a stiffness."""
    from .assembly import matrix_pattern

    dofs, vals, wmeas, xq = _facet_data(space, tuple(names), 2 * space.degree + (2 if callable(alpha) else 0))
    aq = _boundary_coefficient(alpha, xq, space)
    local = torch.einsum("...fq,iq,jq,fq->...fij", aq, vals, vals, wmeas)
    pattern = like.pattern if like is not None else matrix_pattern(space, space)[0]
    rows = dofs[:, :, None].expand(-1, -1, dofs.shape[1]).reshape(-1)
    cols = dofs[:, None, :].expand(-1, dofs.shape[1], -1).reshape(-1)
    keys = pattern.row_indices() * pattern.shape[1] + pattern.col.long()
    slot = torch.searchsorted(keys, rows * pattern.shape[1] + cols)
    flat = local.reshape(*local.shape[:-3], -1)
    values = flat.new_zeros((*flat.shape[:-1], pattern.nnz)).index_add(flat.ndim - 1, slot, flat)
    return SparseMatrix(pattern, values)
