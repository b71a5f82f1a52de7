"""Meshes: the `Mesh` type, gmsh generators, uniform special meshes, I/O and validation."""

from .generators import (
    DFG_2D,
    DFG_3D,
    box,
    cavity,
    channel_cylinder,
    channel_cylinder_3d,
    disk,
    l_shape,
    rectangle,
    unit_interval,
)
from .gmsh_model import mesh_from_gmsh
from .io import SUPPORTED_SUFFIXES, from_meshio, read_mesh, write_mesh
from .mesh import Mesh, MeshError
from .quality import MeshQuality, mesh_quality
from .registry import GENERATORS, generate
from .uniform import uniform_box, uniform_interval, uniform_rectangle
from .validate import find_problems, repair, validate

__all__ = [
    "Mesh",
    "MeshError",
    "MeshQuality",
    "read_mesh",
    "write_mesh",
    "from_meshio",
    "mesh_from_gmsh",
    "SUPPORTED_SUFFIXES",
    "validate",
    "repair",
    "find_problems",
    "mesh_quality",
    "unit_interval",
    "rectangle",
    "box",
    "disk",
    "l_shape",
    "cavity",
    "channel_cylinder",
    "channel_cylinder_3d",
    "DFG_2D",
    "DFG_3D",
    "uniform_interval",
    "uniform_rectangle",
    "uniform_box",
    "GENERATORS",
    "generate",
]
