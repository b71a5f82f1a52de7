"""The paper's three training setups as tasks the `Trainer` runs.

A task is anything with `model` (the `torch.nn.Module` being trained), `loss(batch, k)`
(a scalar tensor, physics capped at k) and `metric(val) -> float` (lower is better; the
tasks here run it with the physics converged, whatever K training is at, as the paper
does): the `Task` protocol. The tasks below see physics only through the `Stepper`
contract (`fem_prdp.physics.contract`), so a stepper of your own plugs in unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch

from ..physics import Stepper
from .precision import run_network

__all__ = ["Task", "EmulatorTask", "MultiMeshEmulatorTask", "CorrectionTask", "InverseTask", "ParameterModel"]


@runtime_checkable
class Task(Protocol):
    """What the `Trainer` needs: the model it optimises and checkpoints, a training loss
    of one mini-batch under the iteration cap k (None: converged), and a validation
    metric (lower is better) of the validation data, passed as the trainer was given it."""

    model: torch.nn.Module

    def loss(self, batch: Any, k: int | None) -> torch.Tensor: ...

    def metric(self, val: Any) -> float: ...


@dataclass
class EmulatorTask:
    """Autoregressive emulator, the paper's mixed chain: network step, then a capped physics
    step; loss = MSE of the two-step rollout against trajectories [B, >= 3, n].
    `warm_start`: the physics solve starts from the network's state instead of zero (the
    paper starts from zero; savings with warm starts must be reported separately)."""

    model: torch.nn.Module
    stepper: Stepper
    warm_start: bool = False

    def rollout(self, u0: torch.Tensor, k: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(network step u1, physics step u2) from u0 [B, n]."""
        u1 = run_network(self.model, u0)
        if self.warm_start:
            return u1, self.stepper.step(u1, k=k, x0=u1.detach())
        return u1, self.stepper.step(u1, k=k)

    def loss(self, traj: torch.Tensor, k: int | None) -> torch.Tensor:
        u1, u2 = self.rollout(traj[:, 0], k)
        return ((u1 - traj[:, 1]) ** 2).mean() + ((u2 - traj[:, 2]) ** 2).mean()

    @torch.no_grad()
    def metric(self, traj: torch.Tensor) -> float:
        """Normalised MSE of the two-step rollout with converged physics."""
        _, u2 = self.rollout(traj[:, 0], None)
        return float(((u2 - traj[:, 2]) ** 2).sum() / (traj[:, 2] ** 2).sum())


@dataclass
class CorrectionTask:
    """Solver-in-the-loop: each step is a capped physics step plus a learned correction,
    u <- P_K(u) + model(P_K(u)), unrolled `m` steps; loss = MSE over the unrolled states of
    trajectories [B, >= m + 1, n]."""

    model: torch.nn.Module
    stepper: Stepper
    m: int = 2

    def rollout(self, u: torch.Tensor, k: int | None) -> torch.Tensor:
        states = []
        for _ in range(self.m):
            coarse = self.stepper.step(u, k=k)
            u = coarse + run_network(self.model, coarse)
            states.append(u)
        return torch.stack(states, 1)

    def loss(self, traj: torch.Tensor, k: int | None) -> torch.Tensor:
        return ((self.rollout(traj[:, 0], k) - traj[:, 1:self.m + 1]) ** 2).mean()

    @torch.no_grad()
    def metric(self, traj: torch.Tensor) -> float:
        pred = self.rollout(traj[:, 0], None)
        ref = traj[:, 1:self.m + 1]
        return float(((pred - ref) ** 2).sum() / (ref**2).sum())


class ParameterModel(torch.nn.Module):
    """Free parameters theta [n] to recover in an inverse problem (ignores its input).

    With `positions` (n indices) and `size`, the output is a [size] vector holding theta at
    those positions and zeros elsewhere (e.g. amplitudes of chosen eigenmodes)."""

    def __init__(self, n: int, init: float = 0.0, dtype=torch.float64, device=None,
                 positions: tuple[int, ...] | None = None, size: int | None = None):
        super().__init__()
        self.theta = torch.nn.Parameter(torch.full((n,), init, dtype=dtype, device=device))
        if (positions is None) != (size is None) or (positions is not None and len(positions) != n):
            raise ValueError(f"ParameterModel: give both positions ({n} indices) and size, or neither")
        self.size = size
        if positions is not None:
            self.register_buffer("positions", torch.as_tensor(positions, device=device))

    def forward(self, *_):
        if self.size is None:
            return self.theta
        return self.theta.new_zeros(self.size).index_put((self.positions,), self.theta)


@dataclass
class InverseTask:
    """Inverse or design problem: unknowns -> capped physics -> loss against observations.

    `model()` (a `ParameterModel`, or any module called without input) gives the unknowns,
    `transform` maps them to what the stepper takes (default: as they are), and then

    - `parameter=None`: they are the stepper's input state (a source, say):
      u = stepper.step(transform(model()), k);
    - `parameter="kappa"` (any keyword of the stepper's `step`): they are that per-call
      parameter, with `input` as the state: u = stepper.step(input, k, kappa=...).

    The loss is the mean squared misfit of u at the `observed` dofs (default: all) against
    a batch of observations [B, n_obs] of the same unknowns, plus `regularizer(unknowns)`
    if given (e.g. a smoothness penalty on a recovered field). The metric is the normalised
    misfit with converged physics.

    The unknowns reach the stepper in `physics_dtype` (default: `input`'s dtype; without
    `input`, as the model returns them: a `ParameterModel` is float64 unless built otherwise).
    """

    model: torch.nn.Module
    stepper: Stepper
    parameter: str | None = None
    input: torch.Tensor | None = None
    transform: Callable[[torch.Tensor], Any] | None = None
    observed: torch.Tensor | None = None
    regularizer: Callable[[torch.Tensor], torch.Tensor] | None = None
    physics_dtype: torch.dtype | None = None

    def __post_init__(self):
        if (self.parameter is None) != (self.input is None):
            raise ValueError("InverseTask: give input= (the state the stepper starts from) exactly when the "
                             "unknowns are a parameter=; without parameter= the unknowns are the input")

    def predict(self, k: int | None) -> torch.Tensor:
        """The physics' response to the current unknowns, at the observed dofs."""
        dtype = self.physics_dtype or (None if self.input is None else self.input.dtype)
        unknowns = run_network(self.model, dtype=dtype)
        value = unknowns if self.transform is None else self.transform(unknowns)
        if self.parameter is None:
            u = self.stepper.step(value, k)
        else:
            u = self.stepper.step(self.input, k, **{self.parameter: value})
        return u if self.observed is None else u[..., self.observed]

    def loss(self, observations: torch.Tensor, k: int | None) -> torch.Tensor:
        loss = ((self.predict(k) - observations) ** 2).mean()
        if self.regularizer is not None:
            loss = loss + self.regularizer(run_network(self.model))
        return loss

    @torch.no_grad()
    def metric(self, observations: torch.Tensor) -> float:
        u = self.predict(None)
        return float(((u - observations) ** 2).sum() / (observations**2).sum())


@dataclass
class MultiMeshEmulatorTask:
    """The emulator chain of `EmulatorTask` for one graph network on several meshes.

    Samples live on different meshes (different sizes), so the trainer's data are sample
    indices [N] into `trajectories`; a mini-batch is split by mesh, each group runs the
    shared `model` on its mesh's graph and that mesh's stepper, and the loss is the
    sample-weighted mean.

    Args:
        model: a `GraphFieldModel` (called as model(u, graph)).
        meshes: per mesh, (graph, stepper).
        trajectories: per sample, (mesh index, trajectory [>= 3, n_nodes of that mesh]).
    """

    model: torch.nn.Module
    meshes: list[tuple[Any, Stepper]]
    trajectories: list[tuple[int, torch.Tensor]]

    def _groups(self, index: torch.Tensor):
        by_mesh: dict[int, list[torch.Tensor]] = {}
        for i in index.reshape(-1).tolist():
            m, traj = self.trajectories[i]
            by_mesh.setdefault(m, []).append(traj)
        return [(m, torch.stack(trajs)) for m, trajs in by_mesh.items()]

    def rollout(self, mesh: int, u0: torch.Tensor, k: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        graph, stepper = self.meshes[mesh]
        u1 = run_network(self.model, u0, graph)
        return u1, stepper.step(u1, k=k)

    def loss(self, index: torch.Tensor, k: int | None) -> torch.Tensor:
        total, count = 0.0, 0
        for m, traj in self._groups(index):
            u1, u2 = self.rollout(m, traj[:, 0], k)
            total = total + len(traj) * (((u1 - traj[:, 1]) ** 2).mean() + ((u2 - traj[:, 2]) ** 2).mean())
            count += len(traj)
        return total / count

    @torch.no_grad()
    def metric(self, index: torch.Tensor) -> float:
        """Normalised MSE of the two-step rollouts with converged physics, over all samples."""
        err, ref = 0.0, 0.0
        for m, traj in self._groups(index):
            _, u2 = self.rollout(m, traj[:, 0], None)
            err += float(((u2 - traj[:, 2]) ** 2).sum())
            ref += float((traj[:, 2] ** 2).sum())
        return err / ref
