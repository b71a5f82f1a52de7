"""The physics contract: what every stepper and problem in `fem_prdp.physics` does, and
what a stepper of your own must do to plug into `fem_prdp.learn`'s tasks and trainer.

    u_new = stepper.step(u, k=None, x0=None, **params)

- `u`: the state, [n_state] or [B, n_state] (a batch of states), float. For a steady
  problem the "state in" is its input (a source, say) and the state out its solution.
- `k`: the iteration cap of every linear solve inside the call (`None`: solve to the
  stepper's tolerance). Under PRDP a capped solve is normal and never raises; a solve that
  ends NONFINITE, BREAKDOWN or INDEFINITE raises `fem_prdp.linalg.SolveError`.
- `x0`: an optional start for the solve, shaped like the result (default zeros, as in
  the PRDP paper).
- `**params`: per-call parameters, differentiable where they are tensors: coefficient
  fields (per cell [n_cells] or [B, n_cells], or a `fem_prdp.fem.Field` of dof values),
  sources, viscosities, boundary values. Each stepper's `step` docstring lists its own.

A step is a function of its arguments: no attribute changes from one call to the next
(time and earlier states are arguments, e.g. `t=` for a time-dependent forcing,
`previous=` for BDF2). Whatever else a step computes is returned by a sibling method
(`NavierStokesStepper.step_with_pressure` returns (velocity, pressure)).

Solve records (iterations, matvecs, seconds, statuses) are not kept by the stepper: every
solve hands its `SolveInfo` to the `fem_prdp.linalg.solve_records()` blocks its caller
opened (the trainer opens one per mini-batch), so the caller sees exactly the solves it
asked for.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

__all__ = ["Stepper"]


@runtime_checkable
class Stepper(Protocol):
    """A differentiable physics step whose linear solves are capped at k (see the module
    docstring). `n_state` is the number of values in one state."""

    n_state: int

    def step(self, u: torch.Tensor, k: int | None = None, x0: torch.Tensor | None = None,
             **params) -> torch.Tensor:
        """[n_state] or [B, n_state] -> the next state, same shape."""
        ...
