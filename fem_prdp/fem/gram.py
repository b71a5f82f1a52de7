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
"""

from __future__ import annotations

import torch

from ..linalg import native
from .forms import Gram

__all__ = ["gram_values"]


def gram_values(gram: Gram, slot: torch.Tensor, nnz: int) -> torch.Tensor:
    """The assembled values [..., nnz] of `gram` on a pattern (slot [C * Lv * Lu]: each
    element-matrix entry's position in the values), differentiable in `gram.weights`."""
    return _GramAssembly.apply(gram.weights, gram, slot, nnz)


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
        local = gram.local(weights)
        flat = local.reshape(*local.shape[:-3], -1)
        ctx.gram, ctx.shape = gram, weights.shape
        ctx.save_for_backward(slot)
        return flat.new_zeros((*flat.shape[:-1], nnz)).index_add(flat.ndim - 1, slot, flat)

    @staticmethod
    def backward(ctx, g):
        # linear in the weights: the gradient does not depend on them; recorded (create_graph)
        # it takes the gather + einsum path, differentiable in g (`native.usable` declines)
        if not ctx.needs_input_grad[0]:
            return None, None, None, None
        (slot,) = ctx.saved_tensors
        out = weights_vjp(ctx.gram, slot, g.reshape(-1, g.shape[-1]))
        return out.reshape(ctx.shape), None, None, None
