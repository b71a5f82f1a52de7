"""What every case shares: the training settings, the surrogate choice, and the run that
trains one model with the PRDP controller, one with fully converged physics and any
fixed-K baselines (same seed, same data; their epochs alternate so that a shared
machine's load falls on all of them alike), then writes the summary, plots and fields.

A case module builds an `Experiment` (mesh, physics, data, task factory) from its config;
`run_experiment` does the rest. Output folder layout:

    out/summary.json            the savings report and each run's totals
    out/curves.png              validation metric, K schedule, cumulative cost
    out/fields.vtu              reference vs predicted fields for ParaView
    out/<run>/metrics.json      per-epoch history (loss, metric, K, iterations, seconds)
    out/<run>/checkpoint.pt     resumable state
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm  # text bars everywhere: tqdm.auto warns in kernels without ipywidgets

from .._io import atomic_path
from ..learn import FieldMLP, Trainer, mesh_to_graph, space_to_graph
from ..learn.precision import parse_dtype
from ..linalg import native
from ..mesh import Mesh, MeshError, generate, read_mesh, write_mesh
from ..prdp import Converged, FixedK, PRDPController, savings_report

__all__ = ["CaseConfig", "Experiment", "RunInterrupted", "run_experiment", "load_mesh", "field_model", "network_graph",
           "data_key"]

# Settings that shape training only: changing them must not regenerate a case's data.
_TRAINING_ONLY = ("epochs", "batch_size", "lr", "lr_decay", "lr_decay_steps", "model", "width", "depth",
                  "gnn_width", "gnn_steps", "residual", "k_min", "k_step", "plateau_threshold", "ema_window",
                  "initial_checkpoint", "fixed_k", "device", "network_dtype")


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; `epoch`: where the runs' checkpoints let them resume (the
    earliest of their saved epochs: `Trainer.checkpoint_overhead`)."""

    def __init__(self, epoch: int, epochs: int):
        super().__init__(f"interrupted at epoch {epoch} of {epochs}; run the same command again to resume")
        self.epoch, self.epochs = epoch, epochs


@dataclass
class CaseConfig:
    """Settings every case has (a case's own config adds its physics)."""

    mesh: str = "rectangle"  # a generator name (fem-prdp mesh generate --help) or a mesh file
    h: float = 0.1
    n_train: int = 64
    n_val: int = 8
    epochs: int = 20
    batch_size: int = 8
    lr: float = 1e-3
    lr_decay: float = 1.0  # multiply the learning rate by this every lr_decay_steps mini-batches
    lr_decay_steps: int = 100
    model: str = "mlp"  # "mlp" (FieldMLP on nodal values) or "gnn" (MeshGraphNet on the mesh graph)
    width: int = 64  # MLP hidden width ...
    depth: int = 3  # ... and hidden layers
    # MeshGraphNet latent size and message-passing steps (its cost grows with width^2 per
    # edge: the MLP widths of the Navier-Stokes cases would make an epoch take minutes)
    gnn_width: int = 64
    gnn_steps: int = 4
    residual: bool = True
    seed: int = 0
    k_min: int = 1  # PRDP's starting K ...
    k_step: int = 1  # ... and its increment per refinement
    plateau_threshold: float = 0.98
    ema_window: int = 6
    initial_checkpoint: float = 100.0
    fixed_k: tuple[int, ...] = ()  # extra baselines trained at a fixed K
    device: str = "cpu"
    # The precision policy (`fem_prdp.learn.precision`): the network in float32, the physics
    # (assembly, solves, data) in float64; either may be set to "float32" or "float64".
    network_dtype: str = "float32"
    physics_dtype: str = "float64"

    def __post_init__(self):
        parse_dtype(self.network_dtype, "network_dtype")
        parse_dtype(self.physics_dtype, "physics_dtype")

    @property
    def physics(self) -> dict:
        """dtype and device for the case's function spaces: `FunctionSpace(mesh, 1, **cfg.physics)`."""
        return {"dtype": parse_dtype(self.physics_dtype), "device": self.device}

    @property
    def network(self) -> dict:
        """dtype and device for the case's surrogate: `model.to(**cfg.network)`."""
        return {"dtype": parse_dtype(self.network_dtype), "device": self.device}

    def rtol(self, rtol: float) -> float:
        """A case's solver tolerance in its physics precision: as given in float64; in float32
        at least 1e-5 (about 100 units of round-off: a float32 Krylov solve stagnates near
        eps32 x cond, and asking for less would end in BREAKDOWN, not in a better answer)."""
        return rtol if self.physics_dtype == "float64" else max(rtol, 1e-5)


@dataclass
class Experiment:
    """What a case hands `run_experiment`.

    Attributes:
        mesh: the mesh (for the `.vtu` output). n_dofs: unknowns per physics state.
        data: [n_train + n_val, ...] samples (trajectories, or observations).
        n_train: how many of `data` are training samples.
        make_task: builds a fresh task (model + physics) after the runner seeds torch.
        fields: (task, validation samples) -> {name: nodal tensor [n_nodes]} for `.vtu`.
        extra: task -> extra summary entries for each trained run (e.g. parameter error).
        notes: fixed facts for the summary (solver, state size, ...).
        data_content: a content fingerprint of the samples when `data` only indexes them
            (checkpoints must not resume on other samples behind the same indices).
    """

    mesh: Mesh
    n_dofs: int
    data: torch.Tensor
    n_train: int
    make_task: Callable[[], object]
    fields: Callable[[object, torch.Tensor], dict] | None = None
    extra: Callable[[object], dict] | None = None
    notes: dict = field(default_factory=dict)
    data_content: str | None = None  # fingerprint of what `data` stands for, when it holds indices


def data_key(cfg: CaseConfig, mesh: Mesh, **extra) -> dict:
    """The cache key of a case's data: its settings without the training-only ones, and
    the mesh by content (never by path: another mesh written to the same file, even with
    as many nodes, must not reuse old data)."""
    source = "file" if os.path.exists(cfg.mesh) else cfg.mesh
    settings = {k: v for k, v in asdict(cfg).items() if k not in _TRAINING_ONLY and k not in ("mesh", "h")}
    return settings | {"mesh_source": source, "mesh_content": mesh.fingerprint()} | extra


def load_mesh(spec: str, h: float) -> Mesh:
    """A mesh file path or a generator name with mesh size h."""
    if os.path.exists(spec):
        return read_mesh(spec)
    if Path(spec).suffix or os.sep in spec:  # meant as a file: say so, not "unknown mesh kind"
        raise MeshError(f"--mesh {spec}: no such file; give an existing .msh, .vtu or .xdmf file, or a generator "
                        "name (fem-prdp mesh generate --help lists them)")
    return generate(spec, h)


def field_model(cfg: CaseConfig, mesh: Mesh, n_values: int, space=None) -> torch.nn.Module:
    """The surrogate on a state of n_values numbers: an MLP on all values, or a GNN on the
    graph of the mesh (or of `space`'s dofs, e.g. P2 velocities) with n_values / n_nodes
    values per node. Built in `cfg.network_dtype` on `cfg.device`."""
    if cfg.model == "gnn":
        from ..learn import GraphFieldModel  # needs the gnn extra

        graph = network_graph(cfg, mesh_to_graph(mesh) if space is None else space_to_graph(space))
        channels, rest = divmod(n_values, graph.num_nodes)
        if rest or not channels:
            raise ValueError(f"--model gnn needs a whole number of values per graph node ({graph.num_nodes} nodes); "
                             f"this case's state has {n_values}; use --model mlp")
        return GraphFieldModel(graph, width=cfg.gnn_width, steps=cfg.gnn_steps, residual=cfg.residual,
                               channels=channels).to(**cfg.network)
    if cfg.model == "mlp":
        return FieldMLP(n_values, width=cfg.width, depth=cfg.depth, residual=cfg.residual).to(**cfg.network)
    raise ValueError(f"model must be 'mlp' or 'gnn', got {cfg.model!r}")


def network_graph(cfg: CaseConfig, graph):
    """A mesh graph's features in the network's dtype, on the case's device (so no forward
    pass casts them again)."""
    graph = graph.to(cfg.device)
    for key in ("pos", "edge_attr", "node_type"):
        if key in graph:
            graph[key] = graph[key].to(cfg.network["dtype"])
    return graph


def _trainer(cfg: CaseConfig, exp: Experiment, controller, folder: Path, case: str) -> Trainer:
    torch.manual_seed(cfg.seed)  # every run starts from the same network
    task = exp.make_task()
    # fused: one kernel over all parameters (measured on the paper's heat-2D MLP, 23M
    # parameters, float32: 15 ms a step against 98 ms for the default loop)
    opt = torch.optim.Adam(task.model.parameters(), lr=cfg.lr, fused=True)
    scheduler = None
    if cfg.lr_decay != 1.0:
        scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_decay_steps, gamma=cfg.lr_decay)
    # Everything that shapes the run but the number of epochs (more epochs resume) and the
    # device (a run may move); the trainer adds the model, task, optimizer and data content.
    # Fixed-K baselines are runs of their own: adding one must not orphan the others.
    settings = {"case": case, **{k: v for k, v in asdict(cfg).items() if k not in ("epochs", "device", "fixed_k")}}
    if exp.data_content is not None:
        settings["data_content"] = exp.data_content
    return Trainer(task, opt, controller, exp.data[: exp.n_train], exp.data[exp.n_train:], cfg.batch_size,
                   checkpoint_dir=folder, scheduler=scheduler, seed=cfg.seed, progress=False,
                   fingerprint=json.loads(json.dumps(settings, default=str)))


def _train_interleaved(trainers: dict[str, Trainer], epochs: int, progress: bool) -> None:
    """Train every run one epoch at a time, in turn. A shared machine's load comes in
    phases of seconds to minutes; alternating epochs spreads them over all runs alike, so
    the wall-time comparison measures the runs, not the moment each ran. (The runs share
    no random state: each trainer draws from its own generator, so the results are those
    of runs one after another.)"""
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    # The ~400k objects alive by now (torch, plotting, mesh libraries, the data) would make
    # each full garbage collection pause for up to 0.2 s inside whichever epoch it hits
    # (measured: enough to turn a 0.5 s run's comparison around). Freezing them leaves
    # the collector only what training allocates.
    gc.collect()
    gc.freeze()
    native.available()  # loads the fused kernels now, not inside a timed epoch
    try:
        _alternate_epochs(trainers, epochs, progress and rank == 0)
    finally:
        gc.unfreeze()


def _alternate_epochs(trainers: dict[str, Trainer], epochs: int, progress: bool) -> None:
    start = min(t.epoch for t in trainers.values())
    bar = tqdm(range(start, epochs), initial=start, total=epochs, desc="train", disable=not progress)
    for epoch in bar:
        for trainer in trainers.values():
            trainer.fit(epoch + 1, checkpoint_last=False)  # no-op for a run resumed past this epoch
        bar.set_postfix({name: f"K={t.history[-1]['k']} {t.history[-1]['val_metric']:.3g}"
                         for name, t in trainers.items()})
    for trainer in trainers.values():  # the finished runs, whatever their last checkpoint held
        trainer.checkpoint()


def _run_summary(trainer: Trainer, seconds: float, exp: Experiment) -> dict:
    out = {"iterations": trainer.meter.total().iterations, "final_val_metric": trainer.history[-1]["val_metric"],
           "wall_s": seconds, "solver_share": trainer.meter.solver_share(),
           "k_schedule": [h["k"] for h in trainer.history]}
    if exp.extra is not None:
        out.update(exp.extra(trainer.task))
    return out


def run_experiment(case: str, cfg: CaseConfig, exp: Experiment, out_dir: str | os.PathLike,
                   progress: bool = True, announce: Callable[[str], None] | None = None) -> dict:
    """Train PRDP, the converged baseline and the fixed-K baselines; returns (and writes)
    the summary. `announce` gets one line when stored runs are resumed ("resumed at epoch
    N") or already complete. Stored runs of another configuration raise `ResumeError`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    controllers = {
        "prdp": PRDPController(k_min=cfg.k_min, k_step=cfg.k_step, plateau_threshold=cfg.plateau_threshold, ema_window=cfg.ema_window,
                               initial_checkpoint=cfg.initial_checkpoint),
        "converged": Converged(),
        **{f"fixed-k{k}": FixedK(k) for k in cfg.fixed_k},
    }
    trainers = {name: _trainer(cfg, exp, controller, out / name, case) for name, controller in controllers.items()}
    done = min(t.epoch for t in trainers.values())
    if announce is not None and done >= cfg.epochs:
        announce(f"{out}: already complete: stored results (use --fresh to re-run)")
    elif announce is not None and done > 0:
        announce(f"{out}: resumed at epoch {done} of {cfg.epochs}")
    try:
        _train_interleaved(trainers, cfg.epochs, progress)
    except KeyboardInterrupt:
        raise RunInterrupted(min(t.saved_epoch for t in trainers.values()), cfg.epochs) from None
    # resumed runs count every epoch once
    runs = {name: _run_summary(t, sum(h["epoch_s"] for h in t.history), exp) for name, t in trainers.items()}
    prdp, base = runs["prdp"], runs["converged"]
    # K_eps: the most iterations a converged validation solve of the converged run needed
    # (PRDP's own validation solves can need more on the states of a half-trained network).
    k_eps = max(trainers["converged"].k_converged)
    summary = {
        "case": case, "config": asdict(cfg), "mesh": repr(exp.mesh), "n_dofs": exp.n_dofs, "k_converged": k_eps,
        **exp.notes,
        "prdp": prdp, "converged": base,
        "fixed_k": {name: r for name, r in runs.items() if name.startswith("fixed-k")},
        "iteration_savings_vs_converged_run": 1 - prdp["iterations"] / base["iterations"] if base["iterations"] else None,
        "wall_savings_vs_converged_run": 1 - prdp["wall_s"] / base["wall_s"],
        "paper_definition": savings_report(prdp["k_schedule"], k_eps),
    }
    if not (torch.distributed.is_initialized() and torch.distributed.get_rank() != 0):  # rank 0 writes
        with atomic_path(out / "summary.json") as tmp:
            tmp.write_text(json.dumps(summary, indent=1))
        _plots(out, {name: t.history for name, t in trainers.items()})
        if exp.fields is not None:
            _fields(out, exp, trainers["prdp"].task)
    return summary


def _plots(out: Path, histories: dict[str, list[dict]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for name, hist in histories.items():
        axes[0].semilogy([h["val_metric"] for h in hist], label=name)
        cum = torch.cumsum(torch.tensor([h["primal_iters"] + h["adjoint_iters"] for h in hist]), 0)
        axes[2].plot(cum.numpy(), label=name)
    axes[0].set(xlabel="epoch", ylabel="validation nMSE", title="accuracy")
    axes[0].legend()
    axes[1].step(range(len(histories["prdp"])), [h["k"] for h in histories["prdp"]], where="post")
    axes[1].set(xlabel="epoch", ylabel="K (solver iterations per solve)", title="PRDP schedule")
    axes[2].set(xlabel="epoch", ylabel="cumulative solver iterations", title="cost")
    axes[2].legend()
    fig.tight_layout()
    with atomic_path(out / "curves.png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


@torch.no_grad()
def _fields(out: Path, exp: Experiment, task) -> None:
    fields = {name: value.detach().cpu() for name, value in exp.fields(task, exp.data[exp.n_train:]).items()}
    write_mesh(exp.mesh.with_data(point_data=fields), out / "fields.vtu")  # write_mesh is atomic
