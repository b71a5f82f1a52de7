"""fem_prdp: differentiable finite-element physics on unstructured meshes, trained with
Progressively Refined Differentiable Physics (PRDP)."""

__version__ = "0.1.0"
__all__ = ["__version__"]
