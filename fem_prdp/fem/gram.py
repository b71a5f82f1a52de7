"""Assembly of `Gram` forms (stiffness and mass with a scalar coefficient) with a backward
pass that gathers and contracts cell by cell.

values = scatter over cells c of sum_q w[..., c, q] test[c, a, q, :] . trial[c, e, q, :],
so dL/dw[..., c, q] = sum_{a, e} g[..., slot(c, a, e)] test[c, a, q, :] . trial[c, e, q, :]
for g = dL/dvalues. Autograd through `index_add` and the element products forms the
gathered [..., C, Lv, Lu] array and two more of the element data's size, and took longer
than the assembly itself (3D P1 stiffness with a per-cell conductivity at 512k nodes:
0.66 s backward against 0.43 s forward; experiments/RESULTS.md). On the CPU the fused kernel
(`native.gram_vjp`) makes one pass over the cells instead; elsewhere one gather and one
`einsum` do.

The forward pass on the CPU is one pass over the cells too (`native.gram_assemble`): the
element matrices and the [C * Lv * Lu] scatter took 0.64 s at 512k nodes, most of it in
batched 4x3 @ 3x4 products. Each thread owns a range of the values and visits only the cells
that reach it (`thread_blocks`), so no two threads write one value and the sums do not
depend on the thread count. Elsewhere the form's `local` and an `index_add` do.
"""

from __future__ import annotations

import weakref

import torch

from ..linalg import native
from .forms import Gram

__all__ = ["gram_values", "thread_blocks"]

# id of a slot tensor (cached per pair of spaces by `assembly.matrix_pattern`) ->
# {(nnz, parts): blocks}; an entry goes when its tensor does
_BLOCKS: dict[int, dict] = {}


def gram_values(gram: Gram, slot: torch.Tensor, nnz: int) -> torch.Tensor:
    """The assembled values [..., nnz] of `gram` on a pattern (slot [C * Lv * Lu]: each
    element-matrix entry's position in the values), differentiable in `gram.weights`."""
    return _GramAssembly.apply(gram.weights, gram, slot, nnz)


def thread_blocks(slot: torch.Tensor, per_cell: int, nnz: int, parts: int):
    """(sb [parts + 1], clo [parts], chi [parts]) int64: part t owns the values
    [sb[t], sb[t + 1]) (an even split of nnz) and the cells [clo[t], chi[t]) are those with an
    entry there (a contiguous superset: with cells and unknowns numbered compactly, as
    meshes and uniform grids are, each part visits about its share of the cells plus the
    cells along its boundary). slot: [C * per_cell]. Cached per slot tensor."""
    cache = _BLOCKS.get(id(slot))
    if cache is None:
        cache = _BLOCKS[id(slot)] = {}
        weakref.finalize(slot, _BLOCKS.pop, id(slot), None)
    key = (nnz, parts)
    if key not in cache:
        cells = slot.view(-1, per_cell)
        lowest, highest = cells.amin(dim=1), cells.amax(dim=1)
        sb = torch.tensor([nnz * t // parts for t in range(parts + 1)], dtype=torch.int64)
        clo, chi = torch.zeros(parts, dtype=torch.int64), torch.zeros(parts, dtype=torch.int64)
        for t in range(parts):
            reach = ((highest >= sb[t]) & (lowest < sb[t + 1])).nonzero()
            if reach.numel():
                clo[t], chi[t] = reach[0, 0], reach[-1, 0] + 1
        cache[key] = (sb, clo, chi)
    return cache[key]


def _assemble(gram: Gram, slot: torch.Tensor, nnz: int) -> torch.Tensor:
    """gram's values [..., nnz]: one pass over the cells on the CPU, else element matrices
    and a scatter."""
    weights = gram.weights
    if native.usable(weights, gram.test, gram.trial):
        C, Q = weights.shape[-2:]
        blocks = thread_blocks(slot, gram.test.shape[-3] * gram.trial.shape[-3], nnz, torch.get_num_threads())
        out = native.gram_assemble(slot, weights.reshape(-1, C, Q), gram.test, gram.trial, nnz, blocks)
        return out.reshape(*weights.shape[:-2], nnz)
    local = gram.local(weights)
    flat = local.reshape(*local.shape[:-3], -1)
    return flat.new_zeros((*flat.shape[:-1], nnz)).index_add(flat.ndim - 1, slot, flat)


def weights_vjp(gram: Gram, slot: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """dL/dweights [B, C, Q] for g = dL/dvalues [B, nnz]."""
    if native.usable(g, gram.test, gram.trial):
        return native.gram_vjp(slot, g, gram.test, gram.trial)
    Lv, Lu = gram.test.shape[-3], gram.trial.shape[-3]
    gathered = g[:, slot].reshape(g.shape[0], -1, Lv, Lu)
    test, trial = ("caqk" if f.ndim == 4 else "aqk" for f in (gram.test, gram.trial))
    return torch.einsum(f"bcae,{test},{trial.replace('a', 'e')}->bcq", gathered, gram.test, gram.trial)


class _GramAssembly(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weights, gram, slot, nnz):
        ctx.gram, ctx.shape = gram, weights.shape
        ctx.save_for_backward(slot)
        return _assemble(gram, slot, nnz)

    @staticmethod
    def backward(ctx, g):
        # linear in the weights: the gradient does not depend on them; recorded (create_graph)
        # it takes the gather + einsum path, differentiable in g (`native.usable` declines)
        if not ctx.needs_input_grad[0]:
            return None, None, None, None
        (slot,) = ctx.saved_tensors
        out = weights_vjp(ctx.gram, slot, g.reshape(-1, g.shape[-1]))
        return out.reshape(ctx.shape), None, None, None
