"""fem_prdp: differentiable finite-element physics on unstructured meshes, trained with
Progressively Refined Differentiable Physics (PRDP)."""

from ._heap import reuse_freed_memory

__version__ = "0.1.0"
__all__ = ["__version__", "reuse_freed_memory"]
