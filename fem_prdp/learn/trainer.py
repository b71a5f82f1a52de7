"""Training through capped physics with a K controller, optionally checkpointed.

One epoch: shuffle (own generator), mini-batches, `task.loss(batch, k)`, backward,
optimizer (and scheduler) step; then the validation metric, `controller.update(metric)` ->
K for the next epoch, the cost tally, and, when one is due, an atomic checkpoint (model,
optimizer, scheduler, controller, cost meter, RNG states, history). A run killed at any
point and resumed ends bit-for-bit where the uninterrupted run ends (CPU, same seed).

Checkpoints are due after every epoch while one is under 64 MB (small models), else
once the training since the last one is long enough that writing takes at most
`checkpoint_overhead` of the time (default 10%). The heat-2D paper case's MLP and
Adam state are 276 MB, 0.4-2.4 s a write on this machine: written after each of its ~0.7
s epochs, checkpoints took 157 s of a 320 s `fem-prdp run`.

Costs come from solve records: each mini-batch (forward and backward) and each validation
runs inside a `solve_records()` block, so the cost meter sums exactly the primal and
adjoint solves of that batch. A solve that ends NONFINITE, BREAKDOWN or INDEFINITE stops
the run with a `TrainingError` naming the epoch, the batch, the solve and its status;
CAPPED is normal under PRDP.

Under `torchrun` (torch.distributed initialised: gloo on CPU, NCCL on GPU) the loss runs
inside `DistributedDataParallel` (bucketed all-reduce overlapping the backward pass),
every rank takes its share of each mini-batch, rank 0's validation metric and controller
decide K and broadcast it, iteration counts are summed over ranks, and only rank 0 writes
checkpoints.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm  # text bars everywhere: tqdm.auto warns in kernels without ipywidgets

from .._fingerprint import content_fingerprint, describe_differences
from .._io import atomic_path
from ..linalg import SolveError, SolveRecords, solve_records
from ..prdp import CostMeter, controller_from_state, savings_report
from .tasks import Task

__all__ = ["Trainer", "TrainingError", "ResumeError"]

_SMALL_CHECKPOINT = 64 * 2**20  # bytes: written after every epoch whatever it costs


class TrainingError(RuntimeError):
    """A solve inside training or validation failed (not merely capped)."""


class ResumeError(ValueError):
    """The checkpoint folder holds a run of a different configuration."""


class _TaskLoss(torch.nn.Module):
    """The task's loss as one module, so DistributedDataParallel sees one forward per
    mini-batch however many times the task calls its model (unrolled corrections,
    one call per mesh)."""

    def __init__(self, task: Task):
        super().__init__()
        self.task = task
        self.model = task.model  # registers the parameters

    def forward(self, batch, k):
        return self.task.loss(batch, k)


class Trainer:
    """Args:
        task: any `Task`: `model`, `loss(batch, k)`, `metric(val)`.
        optimizer: over the model's parameters. controller: the PRDP controller or any
            schedule with `k`, `update(metric)` and `state_dict()`.
        train: the training data: a tensor [N, ...] (mini-batches along the first axis),
            a tuple of such tensors (batches are tuples), a `torch.utils.data.Dataset`
            (batches collated as a `DataLoader` would), or a `DataLoader` (used as it is:
            its own batching and shuffling; resumes are then exact only if its sampler is
            seeded).
        val: validation data, handed to `task.metric` as given.
        batch_size: mini-batch size (not for a `DataLoader`); a last incomplete batch is
            dropped.
        checkpoint_dir: where `checkpoint.pt` and `metrics.json` go (None: nowhere). An
            existing checkpoint is resumed if it was made by the same configuration
            (model, task, optimizer, controller, batch size, seed, data content and the
            `fingerprint`), else `ResumeError` says what differs.
        checkpoint_overhead: the largest share of the time that writing checkpoints may
            take, in (0, 1); None: a checkpoint after every epoch. A checkpoint under
            64 MB is written after every epoch. `saved_epoch`: the epoch the one on disk
            holds.
        scheduler: stepped once per mini-batch. seed: the shuffling generator's seed.
        fingerprint: anything else that shapes the run (a case's settings, say),
            JSON-serialisable.
    """

    def __init__(self, task: Task, optimizer, controller, train, val, batch_size: int | None = None,
                 checkpoint_dir: str | os.PathLike | None = None, scheduler=None, seed: int = 0,
                 progress: bool = True, fingerprint: dict | None = None, checkpoint_overhead: float | None = 0.1):
        if checkpoint_overhead is not None and not 0 < checkpoint_overhead < 1:
            raise ValueError(f"Trainer: checkpoint_overhead must be in (0, 1) or None, got {checkpoint_overhead!r}")
        self.loader = train if isinstance(train, torch.utils.data.DataLoader) else None
        if self.loader is None:
            n = _length(train)
            if not isinstance(batch_size, int) or not 1 <= batch_size <= n:
                raise ValueError(f"Trainer: batch_size must be an int in 1..{n} (the number of training samples), "
                                 f"got {batch_size!r}")
        elif batch_size is not None:
            raise ValueError("Trainer: a DataLoader batches its own data; leave batch_size out")
        self.task, self.optimizer, self.scheduler, self.controller = task, optimizer, scheduler, controller
        self.train, self.val, self.batch_size = train, val, batch_size
        self.dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.generator = torch.Generator().manual_seed(seed)
        self.meter = CostMeter()
        self.history: list[dict] = []
        self.epoch = 0
        self.k = controller.k
        self.k_converged: list[int] = []
        self.progress = progress
        self.fingerprint = {
            "task": type(task).__qualname__, "model": repr(task.model),
            "parameters": {name: list(p.shape) for name, p in task.model.named_parameters()},
            "optimizer": _optimizer_settings(optimizer), "controller": _controller_settings(controller),
            "batch_size": batch_size, "seed": seed,
            "data": content_fingerprint((train, val)), "settings": fingerprint or {},
        }
        self.resumed_from = 0  # the epoch a checkpoint brought the run to (0: a fresh run)
        if self.dir is not None and (self.dir / "checkpoint.pt").exists():
            self._load()
            self.resumed_from = self.epoch
        self.saved_epoch = self.resumed_from
        self.checkpoint_overhead = checkpoint_overhead
        self._write_s, self._write_bytes = 0.0, 0  # the last checkpoint's write time and size
        self._trained_s = 0.0  # training time since it was written

    # ------------------------------------------------------------ checkpoints
    def _state(self) -> dict:
        return {
            "fingerprint": self.fingerprint,
            "epoch": self.epoch, "k": self.k, "history": self.history, "k_converged": self.k_converged,
            "model": self.task.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "controller": self.controller.state_dict(), "meter": self.meter.state_dict(),
            "generator": self.generator.get_state(), "torch_rng": torch.get_rng_state(),
        }

    def _save(self) -> None:
        t0 = time.perf_counter()
        with atomic_path(self.dir / "checkpoint.pt") as tmp:
            torch.save(self._state(), tmp)
        with atomic_path(self.dir / "metrics.json") as tmp:
            tmp.write_text(json.dumps({"history": self.history, "report": self.report()}, indent=1))
        self._write_s, self._trained_s, self.saved_epoch = time.perf_counter() - t0, 0.0, self.epoch
        self._write_bytes = (self.dir / "checkpoint.pt").stat().st_size

    def _checkpoint_due(self) -> bool:
        if self.checkpoint_overhead is None or self._write_bytes < _SMALL_CHECKPOINT:
            return True
        share = self.checkpoint_overhead
        return self._trained_s >= self._write_s * (1 - share) / share

    def checkpoint(self) -> None:
        """Write a checkpoint now if the one on disk is older than the last finished epoch
        (no-op without a checkpoint folder, and on ranks other than 0)."""
        if self.dir is not None and _rank_world()[0] == 0 and self.saved_epoch != self.epoch:
            self._save()

    def _load(self) -> None:
        path = self.dir / "checkpoint.pt"
        device = next(self.task.model.parameters(), torch.empty(0)).device
        state = torch.load(path, weights_only=False, map_location=device)
        stored = state.get("fingerprint")
        if stored != self.fingerprint:
            what = describe_differences(stored, self.fingerprint) if stored else "a checkpoint without a fingerprint"
            raise ResumeError(f"{self.dir} holds a run of another configuration ({what}); start over with --fresh "
                              "(fem-prdp run) or by deleting that folder, or write to another one (--output)")
        self.epoch, self.k, self.history = state["epoch"], state["k"], state["history"]
        self.k_converged = state["k_converged"]
        self.task.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.controller = controller_from_state(state["controller"])
        self.meter.load_state_dict(state["meter"])
        self.generator.set_state(state["generator"].cpu())
        torch.set_rng_state(state["torch_rng"].cpu())

    # ---------------------------------------------------------------- training
    def _batches(self, rank: int, world: int):
        """(this rank's share of each mini-batch, the mini-batch's size)."""
        if self.loader is not None:  # under DDP, a DistributedSampler gives each rank its own batch
            for batch in self.loader:
                yield batch, _length(batch) * world
            return
        order = torch.randperm(_length(self.train), generator=self.generator)  # same on every rank
        for start in range(0, len(order) - self.batch_size + 1, self.batch_size):
            idx = order[start:start + self.batch_size]
            yield _take(self.train, idx.tensor_split(world)[rank]), len(idx)

    def _train_epoch(self, loss_fn) -> float:
        rank, world = _rank_world()
        losses = []
        for number, (batch, full) in enumerate(self._batches(rank, world), start=1):
            t0 = time.perf_counter()
            self.optimizer.zero_grad()
            with solve_records() as records:
                try:
                    loss = loss_fn(batch, self.k)
                    # Weighted by this rank's share: DDP averages over ranks, so the result is
                    # the gradient of the full mini-batch's mean loss.
                    (loss * _length(batch) * world / full).backward()
                except SolveError as err:
                    raise _failure(records, f"epoch {self.epoch + 1}, batch {number}", err) from None
            _check(records, f"epoch {self.epoch + 1}, batch {number}")
            loss_sum = loss.detach() * _length(batch)
            if world > 1:
                torch.distributed.all_reduce(loss_sum)
            self.optimizer.step()
            if self.scheduler is not None:
                self.scheduler.step()
            local = records.totals()  # primal and adjoint solves, with their wall time
            counts = _sum_over_ranks(local)
            self.meter.record_solve(counts["primal"], counts["adjoint"], matvecs=counts["matvecs"],
                                    seconds=local["seconds"], solves=counts["solves"])
            self.meter.record_network(time.perf_counter() - t0 - local["seconds"])
            losses.append(float(loss_sum) / full)
        if not losses:
            raise ValueError("Trainer: the training data gave no mini-batch")
        return sum(losses) / len(losses)

    def _validate(self) -> float:
        where = f"validation after epoch {self.epoch + 1}"
        with solve_records() as records:
            try:
                metric = float(self.task.metric(self.val))
            except SolveError as err:
                raise _failure(records, where, err) from None
        _check(records, where)
        self.k_converged.append(records.max_iterations())
        return metric

    def fit(self, epochs: int, checkpoint_last: bool = True) -> list[dict]:
        """Train until `epochs` epochs are done in total (resuming where a checkpoint left).
        Checkpoints are written when due (`checkpoint_overhead`) and, with
        `checkpoint_last`, after the last epoch; without it the caller writes the final
        one (`checkpoint()`), as when it interleaves runs one epoch at a time."""
        if not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"Trainer.fit: epochs must be an int >= 0, got {epochs!r}")
        rank, world = _rank_world()
        loss_fn = _TaskLoss(self.task)
        if world > 1 and self.epoch < epochs:
            loss_fn = torch.nn.parallel.DistributedDataParallel(loss_fn)
        bar = tqdm(range(self.epoch, epochs), initial=self.epoch, total=epochs,
                   disable=not self.progress or rank != 0, desc="train")
        for _ in bar:
            k_used = self.k
            t0 = time.perf_counter()
            loss = self._train_epoch(loss_fn)
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
            self._trained_s += time.perf_counter() - t0
            if rank == 0 and self.dir is not None and (self._checkpoint_due() or
                                                      (checkpoint_last and self.epoch == epochs)):
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
        if all(k is not None for k in ks) and self.k_converged and max(self.k_converged) > 0:
            out["savings"] = savings_report(ks, max(self.k_converged))
        return out


def _failure(records: SolveRecords, where: str, err: Exception | None = None) -> TrainingError:
    failed = records.failures()
    if not failed:  # raised by a solve outside any record (a user's own linalg call)
        return TrainingError(f"{where}: {err}")
    number, kind, info = failed[0]
    return TrainingError(f"{where}: solve {number} of {len(records)} ({kind}, {info.method}) ended "
                         f"{info.status.name}: {info.message}")


def _check(records: SolveRecords, where: str) -> None:
    if records.failures():
        raise _failure(records, where)


def _length(data) -> int:
    if isinstance(data, (tuple, list)):
        return _length(data[0])
    if isinstance(data, dict):
        return _length(next(iter(data.values())))
    return len(data)


def _take(data, idx: torch.Tensor):
    """The samples idx of a tensor, a tuple/list/dict of tensors, or a Dataset (collated)."""
    if isinstance(data, torch.Tensor):
        return data[idx.to(data.device)]
    if isinstance(data, (tuple, list)):
        return type(data)(_take(d, idx) for d in data)
    if isinstance(data, dict):
        return {key: _take(d, idx) for key, d in data.items()}
    if isinstance(data, torch.utils.data.Dataset):
        return torch.utils.data.default_collate([data[i] for i in idx.tolist()])
    raise TypeError(f"Trainer: training data must be a tensor, a tuple/list/dict of tensors, a Dataset or a "
                    f"DataLoader, got {type(data).__name__}")


def _optimizer_settings(optimizer) -> dict:
    groups = optimizer.param_groups
    flat = {(key if len(groups) == 1 else f"{i}.{key}"): value
            for i, group in enumerate(groups) for key, value in group.items() if key != "params"}
    return {"type": type(optimizer).__qualname__, **json.loads(json.dumps(flat, default=str))}


def _controller_settings(controller) -> dict:
    return {"type": type(controller).__qualname__,
            "state": json.loads(json.dumps(controller.state_dict(), default=str))}


def _rank_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _sum_over_ranks(counts: dict[str, Any]) -> dict[str, Any]:
    if _rank_world()[1] == 1:
        return counts
    keys = ("primal", "adjoint", "matvecs", "solves")
    t = torch.tensor([counts[k] for k in keys], dtype=torch.int64)
    torch.distributed.all_reduce(t)
    return {**counts, **{k: int(v) for k, v in zip(keys, t, strict=True)}}
