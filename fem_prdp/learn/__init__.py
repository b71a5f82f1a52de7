"""Surrogates (MLP, mesh GNN), graph conversion, normalisation, tasks and the trainer.

The trainer runs any `Task` (`model`, `loss(batch, k)`, `metric(val)`); the tasks here see
physics only through the `fem_prdp.physics.Stepper` contract."""

from .._fingerprint import content_fingerprint
from .data import cached, random_fields, reference_trajectories
from .graph import mesh_to_graph, node_types, space_to_graph
from .models import FieldMLP, mlp
from .normalize import Normalizer, add_noise
from .tasks import CorrectionTask, EmulatorTask, InverseTask, MultiMeshEmulatorTask, ParameterModel, Task
from .trainer import ResumeError, Trainer, TrainingError

__all__ = [
    "mesh_to_graph", "space_to_graph", "node_types", "FieldMLP", "GraphFieldModel", "MeshGraphNet", "mlp", "Normalizer", "add_noise",
    "random_fields", "reference_trajectories", "cached", "content_fingerprint", "Task", "EmulatorTask",
    "MultiMeshEmulatorTask", "CorrectionTask", "InverseTask", "ParameterModel", "Trainer", "TrainingError",
    "ResumeError",
]


def __getattr__(name: str):
    # The graph networks need PyTorch Geometric (the `gnn` extra): imported on first use, so
    # a plain install runs every MLP path.
    if name in ("MeshGraphNet", "GraphFieldModel"):
        from .._extras import require

        require("torch_geometric", "gnn", f"fem_prdp.learn.{name}")
        from . import gnn

        return getattr(gnn, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
