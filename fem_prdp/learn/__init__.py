"""Surrogates (MLP, mesh GNN), graph conversion and normalisation."""

from .data import cached, random_fields, reference_trajectories
from .graph import mesh_to_graph, node_types, space_to_graph
from .models import FieldMLP, GraphFieldModel, MeshGraphNet, mlp
from .normalize import Normalizer, add_noise
from .tasks import CorrectionTask, EmulatorTask, InverseTask, MultiMeshEmulatorTask, ParameterModel
from .trainer import Trainer

__all__ = [
    "mesh_to_graph", "space_to_graph", "node_types", "FieldMLP", "GraphFieldModel", "MeshGraphNet", "mlp", "Normalizer", "add_noise",
    "random_fields", "reference_trajectories", "cached", "EmulatorTask", "MultiMeshEmulatorTask", "CorrectionTask", "InverseTask",
    "ParameterModel", "Trainer",
]
