"""Training through capped physics with a K controller, checkpointed every epoch.

Under `torchrun` (torch.distributed initialised, gloo on CPU or NCCL on GPU) every rank
takes its share of each mini-batch, gradients are averaged across ranks, the validation
metric and the controller's decision come from rank 0 and are broadcast, iteration counts
are summed over ranks, and only rank 0 writes checkpoints.

One epoch: shuffle (own generator), mini-batches of trajectories, `task.loss(batch, k)`,
backward, optimizer (and scheduler) step; then the validation metric (physics converged,
whatever K training is at), `controller.update(metric)` -> K for the next epoch, the cost
tally, and an atomic checkpoint (model, optimizer, scheduler, controller, cost meter, RNG
states, history). A run killed at any point and resumed ends bit-for-bit where the
uninterrupted run ends (CPU, same seed).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .._io import atomic_path
from ..prdp import CostMeter, controller_from_state, savings_report

__all__ = ["Trainer"]


class Trainer:
    """Args:
        task: a task from `fem_prdp.learn.tasks` (anything with `loss(batch, k)`,
            `metric(val)`, `model` and `stepper.solver`).
        optimizer, scheduler (optional, stepped per mini-batch), controller (PRDP or a
            comparison schedule).
        train, val: trajectories [N, T, n].
        batch_size, seed; checkpoint_dir: where `checkpoint.pt` and `metrics.json` go.
    """

    def __init__(self, task, optimizer, controller, train: torch.Tensor, val: torch.Tensor, batch_size: int,
                 checkpoint_dir: str | os.PathLike, scheduler=None, seed: int = 0, progress: bool = True):
        if batch_size < 1 or batch_size > len(train):
            raise ValueError(f"Trainer: batch_size must be in 1..{len(train)}, got {batch_size}")
        self.task, self.optimizer, self.scheduler, self.controller = task, optimizer, scheduler, controller
        self.train, self.val, self.batch_size = train, val, batch_size
        self.dir = Path(checkpoint_dir)
        self.generator = torch.Generator().manual_seed(seed)
        self.meter = CostMeter()
        self.history: list[dict] = []
        self.epoch = 0
        self.k = controller.k
        self.k_converged: list[int] = []
        self.progress = progress
        if (self.dir / "checkpoint.pt").exists():
            self._load()

    # ------------------------------------------------------------ checkpoints
    def _state(self) -> dict:
        return {
            "epoch": self.epoch, "k": self.k, "history": self.history, "k_converged": self.k_converged,
            "model": self.task.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "controller": self.controller.state_dict(), "meter": self.meter.state_dict(),
            "generator": self.generator.get_state(), "torch_rng": torch.get_rng_state(),
        }

    def _save(self) -> None:
        with atomic_path(self.dir / "checkpoint.pt") as tmp:
            torch.save(self._state(), tmp)
        with atomic_path(self.dir / "metrics.json") as tmp:
            tmp.write_text(json.dumps({"history": self.history, "report": self.report()}, indent=1))

    def _load(self) -> None:
        state = torch.load(self.dir / "checkpoint.pt", weights_only=False)
        self.epoch, self.k, self.history = state["epoch"], state["k"], state["history"]
        self.k_converged = state["k_converged"]
        self.task.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.controller = controller_from_state(state["controller"])
        self.meter.load_state_dict(state["meter"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])

    # ---------------------------------------------------------------- training
    def _train_epoch(self) -> float:
        solver = self.task.stepper.solver
        rank, world = _rank_world()
        order = torch.randperm(len(self.train), generator=self.generator)  # same on every rank
        losses = []
        for start in range(0, len(order) - self.batch_size + 1, self.batch_size):
            idx = order[start:start + self.batch_size]
            batch = self.train[idx.tensor_split(world)[rank]]  # this rank's share
            t0 = time.perf_counter()
            solver.reset_log()
            self.optimizer.zero_grad()
            loss = self.task.loss(batch, self.k)
            # Weight by this rank's share so the summed gradient is the full batch's mean.
            (loss * len(batch) / len(idx)).backward()
            loss_sum = loss.detach() * len(batch)
            if world > 1:
                for p in self.task.model.parameters():
                    if p.grad is not None:
                        torch.distributed.all_reduce(p.grad)
                torch.distributed.all_reduce(loss_sum)
            self.optimizer.step()
            if self.scheduler is not None:
                self.scheduler.step()
            local = solver.iterations()  # primal and adjoint solves, with their wall time
            counts = _sum_over_ranks(local)
            self.meter.record_solve(counts["primal"], counts["adjoint"], matvecs=counts["matvecs"],
                                    seconds=local["seconds"], solves=counts["solves"])
            self.meter.record_network(time.perf_counter() - t0 - local["seconds"])
            losses.append(float(loss_sum) / len(idx))
        return sum(losses) / len(losses)

    def _validate(self) -> float:
        solver = self.task.stepper.solver
        solver.reset_log()
        metric = self.task.metric(self.val)
        self.k_converged.append(max(int(i.n_iters.max()) for i in solver.solve_log))
        solver.reset_log()
        return metric

    def fit(self, epochs: int) -> list[dict]:
        """Train until `epochs` epochs are done in total (resuming where a checkpoint left)."""
        rank, world = _rank_world()
        bar = tqdm(range(self.epoch, epochs), initial=self.epoch, total=epochs,
                   disable=not self.progress or rank != 0, desc="train")
        for _ in bar:
            k_used = self.k
            t0 = time.perf_counter()
            loss = self._train_epoch()
            metric = self._validate()
            decision = [self.controller.update(metric), metric] if rank == 0 else [None, None]
            if world > 1:  # rank 0 decides; everyone follows
                torch.distributed.broadcast_object_list(decision, src=0)
                if rank != 0:
                    self.controller.update(decision[1])  # keep every rank's controller state in step
            self.k, metric = decision
            cost = self.meter.end_epoch()
            self.history.append({"epoch": self.epoch, "k": k_used, "loss": loss, "val_metric": metric,
                                 "primal_iters": cost.primal_iters, "adjoint_iters": cost.adjoint_iters,
                                 "matvecs": cost.matvecs, "solver_s": cost.solver_seconds,
                                 "other_s": cost.network_seconds,
                                 "epoch_s": time.perf_counter() - t0})
            self.epoch += 1
            if rank == 0:
                self._save()
            bar.set_postfix(K=k_used, metric=f"{metric:.3g}")
        return self.history

    def report(self) -> dict:
        """Iteration totals and the paper's savings against the converged cap K_eps (the
        largest iteration count the converged validation solves needed)."""
        if not self.history:
            return {}
        ks = [h["k"] for h in self.history]
        total = self.meter.total()
        out = {"epochs": len(ks), "k_schedule": ks, "primal_iters": total.primal_iters,
               "adjoint_iters": total.adjoint_iters, "final_val_metric": self.history[-1]["val_metric"],
               "solver_share_of_step_time": self.meter.solver_share()}
        if all(k is not None for k in ks) and self.k_converged:
            out["savings"] = savings_report(ks, max(self.k_converged))
        return out


def _rank_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _sum_over_ranks(counts: dict[str, int]) -> dict[str, int]:
    if _rank_world()[1] == 1:
        return counts
    keys = ("primal", "adjoint", "matvecs", "solves")
    t = torch.tensor([counts[k] for k in keys], dtype=torch.int64)
    torch.distributed.all_reduce(t)
    return {**counts, **{k: int(v) for k, v in zip(keys, t, strict=True)}}
