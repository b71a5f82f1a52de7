"""The precision policy and the one place where a network meets the physics.

Networks train in float32 (about 2.4x faster per Adam step than float64 on this CPU for
the paper's heat-2D MLP, and what the paper's own code uses); the physics (assembly and
solves) runs in float64 unless asked otherwise, because Krylov solves to rtol 1e-10 and
the adjoint gradients need it. The tasks cross between the two only through
`run_network`: the state goes into the network in the network's dtype and comes out in the
physics' dtype. Both casts are `Tensor.to`, so gradients flow through them unchanged (in
the lower of the two precisions).
"""

from __future__ import annotations

import torch

__all__ = ["DTYPES", "parse_dtype", "module_dtype", "run_network"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def parse_dtype(name: str | torch.dtype, what: str = "dtype") -> torch.dtype:
    """"float32" / "float64" (or the torch dtype itself) -> the torch dtype; anything else
    is one clear error naming `what` (e.g. "network_dtype")."""
    if isinstance(name, torch.dtype) and name in DTYPES.values():
        return name
    if name not in DTYPES:
        raise ValueError(f"{what} {name!r}: use one of {', '.join(DTYPES)}")
    return DTYPES[name]


def module_dtype(module: torch.nn.Module) -> torch.dtype | None:
    """The dtype of a module's first floating-point parameter or buffer (None: it has none)."""
    for t in (*module.parameters(), *module.buffers()):
        if t.is_floating_point():
            return t.dtype
    return None


def run_network(model: torch.nn.Module, *inputs, dtype: torch.dtype | None = None) -> torch.Tensor:
    """model(*inputs) across the network/physics boundary.

    Floating tensor inputs are cast to the network's dtype (`module_dtype`); anything else
    (a graph, an index) passes as it is. The output is cast to `dtype`, by default the
    dtype of the first floating tensor input (the physics state it was given), so the
    stepper that follows sees its own precision. A model without floating parameters or
    buffers gets its inputs unchanged.

    Shapes: whatever the model takes and returns; only dtypes change.
    """
    net = module_dtype(model)
    floats = [x for x in inputs if isinstance(x, torch.Tensor) and x.is_floating_point()]
    out_dtype = dtype if dtype is not None else (floats[0].dtype if floats else None)
    if net is not None:
        inputs = tuple(x.to(net) if isinstance(x, torch.Tensor) and x.is_floating_point() else x for x in inputs)
    out = model(*inputs)
    return out if out_dtype is None else out.to(out_dtype)
