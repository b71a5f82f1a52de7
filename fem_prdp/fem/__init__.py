"""Finite elements: Lagrange P1/P2 spaces, quadrature, forms, assembly onto cached
patterns and boundary conditions by physical-group name."""

from .assembly import (
    ElementData,
    Field,
    assemble_matrix,
    assemble_vector,
    block_matrix,
    element_data,
    lumped_mass,
    matrix_pattern,
)
from .boundary import (
    apply_dirichlet,
    assemble_boundary_matrix,
    assemble_boundary_vector,
    dirichlet_conditions,
    dirichlet_dofs,
    mean_value_constraint,
    pin_dof,
    prepare_dirichlet,
)
from .forms import (
    BilinearForm,
    LinearForm,
    advection,
    bilinear_form,
    divergence_coupling,
    dot,
    grad,
    linear_form,
    mass,
    source,
    stiffness,
    supg_advection,
    tensor_stiffness,
)
from .norms import error_norms
from .oseen import OseenSystem, TaylorHood, assemble_newton, assemble_oseen, pressure_convection_diffusion
from .quadrature import QuadratureRule, quadrature
from .space import FunctionSpace
from .stabilization import discrete_upwind, supg_tau

__all__ = [
    "FunctionSpace",
    "Field",
    "ElementData",
    "element_data",
    "QuadratureRule",
    "quadrature",
    "assemble_matrix",
    "assemble_vector",
    "block_matrix",
    "matrix_pattern",
    "lumped_mass",
    "BilinearForm",
    "LinearForm",
    "bilinear_form",
    "linear_form",
    "dot",
    "grad",
    "mass",
    "stiffness",
    "tensor_stiffness",
    "advection",
    "supg_advection",
    "divergence_coupling",
    "source",
    "apply_dirichlet",
    "assemble_boundary_matrix",
    "assemble_boundary_vector",
    "dirichlet_dofs",
    "pin_dof",
    "dirichlet_conditions",
    "prepare_dirichlet",
    "supg_tau",
    "discrete_upwind",
    "mean_value_constraint",
    "error_norms",
    "TaylorHood",
    "OseenSystem",
    "assemble_oseen",
    "assemble_newton",
    "pressure_convection_diffusion",
]
