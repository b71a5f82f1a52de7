"""The paper's three training setups as tasks the `Trainer` runs. Each task has `model`,
`stepper` (whose `solver` is a `CappedSolver`: its log gives the iteration counts and solve
times), `loss(batch, k) -> loss` and `metric(val) -> float` (with the physics converged,
whatever K training is at, as the paper does)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["EmulatorTask", "MultiMeshEmulatorTask", "CorrectionTask", "InverseTask", "ParameterModel"]


@dataclass
class EmulatorTask:
    """Autoregressive emulator, the paper's mixed chain: network step, then a capped physics
    step; loss = MSE of the two-step rollout against trajectories [B, >= 3, n].
    `warm_start`: the physics solve starts from the network's state instead of zero (the
    paper starts from zero; savings with warm starts must be reported separately)."""

    model: torch.nn.Module
    stepper: object
    warm_start: bool = False

    def rollout(self, u0: torch.Tensor, k: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(network step u1, physics step u2) from u0 [B, n]."""
        u1 = self.model(u0)
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
    stepper: object
    m: int = 2

    def rollout(self, u: torch.Tensor, k: int | None) -> torch.Tensor:
        states = []
        for _ in range(self.m):
            coarse = self.stepper.step(u, k=k)
            u = coarse + self.model(coarse)
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
    """Inverse problem: parameters -> capped physics solve -> loss against observed fields.
    `problem` is a `PoissonProblem`-like object with `source(theta, sign)`, `solve(f, k)` and
    `solver`; batches are observed fields [B, n] of the same unknown parameters."""

    model: torch.nn.Module
    problem: object
    sign: float = 1.0

    @property
    def stepper(self):
        return self.problem

    def _solve(self, k) -> torch.Tensor:
        return self.problem.solve(self.problem.source(self.model(), self.sign), k=k)

    def loss(self, observed: torch.Tensor, k: int | None) -> torch.Tensor:
        return ((self._solve(k) - observed) ** 2).mean()

    @torch.no_grad()
    def metric(self, observed: torch.Tensor) -> float:
        u = self._solve(None)
        return float(((u - observed) ** 2).sum() / (observed**2).sum())


@dataclass
class MultiMeshEmulatorTask:
    """The emulator chain of `EmulatorTask` for one graph network on several meshes.

    Samples live on different meshes (different sizes), so the trainer's data are sample
    indices [N] into `trajectories`; a mini-batch is split by mesh, each group runs the
    shared `model` on its mesh's graph and that mesh's stepper, and the loss is the
    sample-weighted mean. Every stepper must share one `CappedSolver` (`stepper.solver`),
    so the trainer's cost log sees all solves.

    Args:
        model: a `GraphFieldModel` (called as model(u, graph)).
        meshes: per mesh, (graph, stepper).
        trajectories: per sample, (mesh index, trajectory [>= 3, n_nodes of that mesh]).
    """

    model: torch.nn.Module
    meshes: list
    trajectories: list

    def __post_init__(self):
        solvers = {id(stepper.solver) for _, stepper in self.meshes}
        if len(solvers) != 1:
            raise ValueError("MultiMeshEmulatorTask: the steppers must share one CappedSolver")

    @property
    def stepper(self):
        return self.meshes[0][1]

    def _groups(self, index: torch.Tensor):
        by_mesh: dict[int, list[torch.Tensor]] = {}
        for i in index.reshape(-1).tolist():
            m, traj = self.trajectories[i]
            by_mesh.setdefault(m, []).append(traj)
        return [(m, torch.stack(trajs)) for m, trajs in by_mesh.items()]

    def rollout(self, mesh: int, u0: torch.Tensor, k: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        graph, stepper = self.meshes[mesh]
        u1 = self.model(u0, graph)
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
