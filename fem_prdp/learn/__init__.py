"""Surrogates (MLP, mesh GNN), graph conversion and normalisation."""

from .graph import mesh_to_graph, node_types
from .models import FieldMLP, MeshGraphNet, mlp
from .normalize import Normalizer, add_noise

__all__ = ["mesh_to_graph", "node_types", "FieldMLP", "MeshGraphNet", "mlp", "Normalizer", "add_noise"]
