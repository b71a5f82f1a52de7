"""Incompressible Navier-Stokes with Taylor-Hood P2-P1 elements.

Each step solves, for p = 1..picard (Oseen / Picard linearisation, w = u_old first):

    [ M/dt + nu K + C(w)   B^T ] [u_new]   [ M u_old / dt ]
    [ B                    0   ] [p_new] = [ 0            ]

(implicit Euler; `bdf2=True` uses (3 u_new - 4 u_old + u_older) / (2 dt) when the step is
given u_older as `previous=`). With dt=None the step is one steady Picard iteration
(`fem_prdp.physics.steady_state` iterates to the steady solution, Picard or Newton).

The saddle-point system is solved by GMRES with an upper block-triangular preconditioner.
With `preconditioner="pcd"` both blocks see the convection, so the iteration count stays
bounded for any dt, steady flows included: an AIR algebraic-multigrid V-cycle of the
(upwinded) velocity block, and the pressure convection-diffusion Schur approximation
S^-1 = L_p^-1 F_p(w) M_p^-1 (`fem.pressure_convection_diffusion`), rebuilt each Picard
pass from the convecting velocity (from the batch mean for a batch). With
`preconditioner="cahouet-chabard"` it is built once, without convection: an AMG V-cycle of
M/dt + nu K and S^-1 = nu M_p^-1 + (1/dt) L_p^-1, cheap and good only while dt is small.
The default, "auto", takes the fixed one while the largest cell Courant number is at most
2 and "pcd" otherwise and for steady steps (measured in experiments/RESULTS.md). Unrolled
gradients always use the fixed one. Velocity Dirichlet
conditions by boundary name; boundaries without one are do-nothing outflow; an enclosed
flow (every boundary Dirichlet) pins one pressure dof.
"""

from __future__ import annotations

import torch

from ..fem import (
    Field,
    TaylorHood,
    apply_dirichlet,
    assemble_matrix,
    assemble_oseen,
    block_matrix,
    dirichlet_conditions,
    dirichlet_dofs,
    discrete_upwind,
    element_data,
    mass,
    pressure_convection_diffusion,
    pressure_laplacian,
    pressure_mass,
    stiffness,
)
from ..linalg import (
    AMG,
    CG,
    GMRES,
    BlockTriangular,
    CahouetChabard,
    Chebyshev,
    Componentwise,
    Jacobi,
    Preconditioner,
    PressureConvectionDiffusion,
    solve,
)
from ..mesh import Mesh
from ._common import CappedSolver, check_coefficient, check_positive, check_state, resolve_dirichlet

__all__ = ["NavierStokesStepper", "vorticity", "divergence_free_projection"]

# Largest cell Courant number up to which "auto" keeps the fixed Cahouet-Chabard preconditioner.
COURANT_SWITCH = 2.0
# The AIR cycle is built from the velocity block plus this fraction of its discrete-upwind
# diffusion (`fem.discrete_upwind`). Measured on DFG 2D-1 (experiments/RESULTS.md): the fully
# upwinded block (1.0) is a poor stand-in for the Galerkin one at Re 100 (193 GMRES
# iterations with it solved exactly, 100 with the Galerkin block solved exactly); 0.25-0.5
# need 73-105, while below ~0.1 the AIR cycle stops converging (as on the Galerkin block).
UPWIND_FRACTION = 0.35


class NavierStokesStepper:
    """A differentiable, capped Navier-Stokes step on any 2D/3D mesh (the physics
    contract of `fem_prdp.physics.contract`; the state is the velocity, [n_u]).

    Args:
        mesh: the `Mesh` (or pass `spaces=TaylorHood(...)`).
        nu: kinematic viscosity (> 0). dt: time step (> 0), or None for steady Picard steps.
        dirichlet: {boundary name: velocity}, a constant tuple or a callable of points
            [N, dim] -> [N, dim] (inflow profiles, lid velocity, no-slip walls).
        picard: Oseen linearisations per step. bdf2: second-order BDF in time (pass the
            state before u as `previous=`; without it a step is implicit Euler).
        extrapolate: with bdf2, a step given `previous=` convects its first Picard pass
            with 2 u - previous (second order in time with picard=1: one Oseen solve a
            step) instead of u (first order in the convection unless picard is raised).
        solver: a `CappedSolver` (default GMRES(50), rtol 1e-9); k counts inner iterations.
        preconditioner: "pcd" (AIR multigrid on the velocity block with convection, pressure
            convection-diffusion Schur approximation, rebuilt each Picard pass: bounded
            iterations for any dt), "cahouet-chabard" (built once without convection: cheap,
            good while dt is small) or "auto" (default): "pcd" for steady steps and
            whenever the largest cell Courant number |w| dt / h exceeds 2, else
            "cahouet-chabard" (measured in experiments/RESULTS.md: below that the two need
            about the same iterations and the fixed one saves the per-pass set-up).
    """

    def __init__(self, mesh: Mesh | None, nu: float, dt: float | None, dirichlet: dict,
                 picard: int = 1, bdf2: bool = False, solver: CappedSolver | None = None,
                 spaces: TaylorHood | None = None, preconditioner: str = "auto", extrapolate: bool = False):
        check_positive("nu", nu, "NavierStokesStepper")
        if dt is not None:
            check_positive("dt", dt, "NavierStokesStepper")
        if not isinstance(picard, int) or picard < 1:
            raise ValueError(f"NavierStokesStepper: picard must be an int >= 1, got {picard!r}")
        if bdf2 and dt is None:
            raise ValueError("NavierStokesStepper: bdf2 needs a time step dt")
        if extrapolate and not bdf2:
            raise ValueError("NavierStokesStepper: extrapolate=True extrapolates the BDF2 history; build with bdf2=True")
        if preconditioner not in ("auto", "pcd", "cahouet-chabard"):
            raise ValueError(f"NavierStokesStepper: preconditioner must be 'auto', 'pcd' or 'cahouet-chabard', "
                             f"got {preconditioner!r}")
        self.preconditioner = preconditioner
        self.th = spaces or TaylorHood(mesh)
        self.mesh = self.th.mesh
        if self.mesh.dim not in (2, 3):
            raise ValueError("NavierStokesStepper: the mesh must be 2D or 3D")
        self.nu, self.dt, self.picard, self.bdf2, self.extrapolate = nu, dt, picard, bdf2, extrapolate
        self.n_state = self.th.n_u
        self.solver = solver or CappedSolver("gmres", rtol=1e-9, restart=50)
        self.dirichlet = dict(dirichlet)
        self._bc_dofs, self._bc_values = dirichlet_conditions(self.th.velocity, dirichlet)
        enclosed = set(dirichlet) >= set(self.mesh.boundaries)
        self.pin_pressure = enclosed
        self.M = assemble_matrix(mass, self.th.scalar_velocity)
        base = assemble_matrix(stiffness, self.th.scalar_velocity, kappa=nu)
        if dt is not None:
            base = base.with_values(base.values + (1.5 if bdf2 else 1.0) * self.M.values / dt)
        base_bc, _ = apply_dirichlet(base, torch.zeros(base.shape[0], dtype=base.dtype), self.th.scalar_velocity,
                                     dofs=torch.unique(self._bc_dofs % self.th.scalar_velocity.n_dofs), values=0.0)
        self._velocity_pc = Componentwise(AMG(base_bc), self.mesh.dim, self.th.scalar_velocity.n_dofs)
        L = pressure_laplacian(self.th)
        # The pressure Laplacian (and the PCD operator) need a condition that makes them
        # invertible and consistent with the flow's: zero pressure on the do-nothing outflow
        # (Elman & Tuminaro 2009; pinning one dof instead left the PCD map singular at the
        # first, Stokes, pass and GMRES's residual estimate drifted from the true residual),
        # or one pinned dof when every boundary is a wall or an inflow.
        outflow = [name for name in self.mesh.boundaries if name not in self.dirichlet]
        pinned = torch.zeros(1, dtype=torch.long)
        self._pressure_bc = self.th.pressure.boundary_dofs(*outflow) if outflow else pinned
        self._pcd_laplacian = AMG(self._with_pressure_bc(L))
        cc_laplacian = None  # Cahouet-Chabard's (time steps only) keeps its one pinned dof
        if dt is not None:
            cc_laplacian = self._pcd_laplacian if not outflow else AMG(apply_dirichlet(
                L, torch.zeros(self.th.n_p, dtype=L.dtype), self.th.pressure, dofs=pinned, values=0.0)[0])
        Mp = pressure_mass(self.th)
        self._pressure_mass = Jacobi(Mp)
        # PCD's M_p^-1: Jacobi is off by up to 2x in 2D (2.5x in 3D), which cost ~15% more
        # GMRES iterations at Re 100 than an exact M_p^-1; three Chebyshev steps on Wathen's
        # interval of D^-1 M_p get within 7% (2D) of it (experiments/RESULTS.md).
        self._pcd_mass = Chebyshev(Mp, (0.5, (self.mesh.dim + 2) / 2), degree=3)
        self._schur = CahouetChabard(self._pressure_mass, nu, cc_laplacian, dt)
        self._divergence = None
        self._cell_size = self.mesh.cell_diameters().to(self.th.velocity.device, self.th.velocity.dtype)

    def _rhs(self, u: torch.Tensor, previous: torch.Tensor | None) -> torch.Tensor:
        n_s, d = self.th.scalar_velocity.n_dofs, self.mesh.dim
        B = u.shape[0]
        if self.dt is None:
            ru = torch.zeros_like(u)
        else:
            comps = u.reshape(B * d, n_s)
            ru = self.M.matvec(comps).reshape(B, -1) / self.dt
            if previous is not None:
                prev = previous.expand(B, -1).reshape(B * d, n_s)
                ru = 2 * ru - 0.5 * self.M.matvec(prev).reshape(B, -1) / self.dt
        return torch.cat([ru, u.new_zeros(B, self.th.n_p)], dim=1)

    def step(self, u: torch.Tensor, k: int | None = None, x0: torch.Tensor | None = None, *,
             nu=None, previous: torch.Tensor | None = None, dirichlet: dict | None = None) -> torch.Tensor:
        """Velocity [n_u] or [B, n_u] -> the new velocity (`step_with_pressure` for both);
        the arguments are those of `step_with_pressure`."""
        return self.step_with_pressure(u, k, x0, nu=nu, previous=previous, dirichlet=dirichlet)[0]

    def step_with_pressure(self, u: torch.Tensor, k: int | None = None, x0: torch.Tensor | None = None, *,
                           nu=None, previous: torch.Tensor | None = None,
                           dirichlet: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Velocity [n_u] or [B, n_u] -> (new velocity, its pressure [n_p] or [B, n_p]).

        Args:
            k: cap on each Oseen solve's GMRES inner iterations (None: to tolerance).
            x0: start of the (first Picard pass's) solve: velocity [.., n_u] (pressure
                starts at zero) or velocity and pressure [.., n_u + n_p].
            nu: this step's viscosity instead of the constructor's (number or per-cell
                tensor, differentiable); the preconditioner stays the constructor's.
            previous: for `bdf2=True`, the velocity one step before u (None: Euler step).
            dirichlet: {boundary name: velocity} for boundaries named in the constructor,
                this step only (tuple, callable, or a tensor [n_dofs of that boundary]).
        """
        th = self.th
        check_state(u, th.n_u, "NavierStokesStepper.step", "velocity")
        if previous is not None:
            if not self.bdf2:
                raise ValueError("NavierStokesStepper.step: previous= is the BDF2 history; build with bdf2=True")
            check_state(previous, th.n_u, "NavierStokesStepper.step", "previous velocity")
            previous = previous.reshape(-1, th.n_u)
        if nu is not None:
            check_coefficient("nu", nu, "NavierStokesStepper.step")
        nu = self.nu if nu is None else nu
        batched = u.ndim == 2
        U = u if batched else u.unsqueeze(0)
        start = None if x0 is None else self._start(x0)
        rhs = self._rhs(U, previous)
        bc_dofs, bc_values = ((self._bc_dofs, self._bc_values) if dirichlet is None else
                              resolve_dirichlet(th.velocity, self.dirichlet, dirichlet, "NavierStokesStepper.step"))
        w = 2 * U - previous if self.extrapolate and previous is not None else U
        for _ in range(self.picard):
            dt = None if self.dt is None else self.dt / (1.5 if previous is not None else 1.0)
            system = assemble_oseen(th, nu, velocity=w, dt=dt)
            A, b = system.matrix, rhs
            if len(bc_dofs):
                A, b = apply_dirichlet(A, b, th.velocity, dofs=bc_dofs, values=bc_values)
            if self.pin_pressure:
                A, b = apply_dirichlet(A, b, th.velocity, dofs=torch.tensor([th.n_u]), values=0.0)
            P = self.oseen_preconditioner(A, w, nu, dt)
            x = self.solver(A, b, k, P, start)
            start = None  # later Picard passes start from zero, as the first does by default
            w, p = x[:, : th.n_u], x[:, th.n_u:]
        return (w, p) if batched else (w[0], p[0])

    def _start(self, x0: torch.Tensor) -> torch.Tensor:
        th = self.th
        if x0.shape[-1] == th.n_u:
            x0 = torch.cat([x0, x0.new_zeros(*x0.shape[:-1], th.n_p)], dim=-1)
        return check_state(x0, th.n_u + th.n_p, "NavierStokesStepper.step", "x0")

    def rollout(self, u0: torch.Tensor, n_steps: int, k: int | None = None, **params) -> torch.Tensor:
        """[n_steps + 1, ...] velocities from u0 (BDF2 steppers pass each step its history)."""
        out = [u0]
        for i in range(n_steps):
            previous = out[-2].detach() if self.bdf2 and i > 0 else None
            out.append(self.step(out[-1], k, previous=previous, **params))
        return torch.stack(out)

    def oseen_preconditioner(self, A, w: torch.Tensor, nu, dt: float | None) -> Preconditioner:
        """The block-triangular preconditioner (as this stepper's `preconditioner` setting
        chooses) for a Dirichlet-eliminated Oseen or Newton matrix A (values [nnz] or
        [B, nnz]) linearised at the convecting velocity w [B, n_u], viscosity nu and time
        step dt (None: steady). Steps and `steady_state` build theirs here."""
        th = self.th
        Bt = A.block(slice(0, th.n_u), slice(th.n_u, None))
        n_s = th.scalar_velocity.n_dofs
        Auu = A.block(slice(0, n_s), slice(0, n_s))
        batched = A.batch_size is not None and A.batch_size > 1
        mode = self.preconditioner
        if mode == "auto":
            mode = "cahouet-chabard" if dt is not None and self.courant_number(w, dt) <= COURANT_SWITCH else "pcd"
        if self.solver.grad == "unrolled" or (mode == "cahouet-chabard" and batched):
            # Unrolled gradients differentiate the iterations with the preconditioner held
            # fixed; one built from the state would make them wrong even for a converged solve.
            return BlockTriangular(th.n_u, self._velocity_pc, self._schur, Bt)
        if mode == "cahouet-chabard":  # one sample: AMG of the current block
            values = Auu.values.detach().reshape(-1)
            return BlockTriangular(th.n_u, Componentwise(AMG(Auu.with_values(values)), self.mesh.dim, n_s),
                                   self._schur, Bt)
        values = Auu.values.detach()
        # One hierarchy per pass (AMG is not batched): a batch shares that of its mean block.
        # Built from a partly upwinded block: on the Galerkin block itself AIR's cycle
        # diverged at Re 100 (cell Peclet numbers near 60) and at some Re 20 states; the
        # fully upwinded block is robust but a poor approximation (UPWIND_FRACTION).
        Auu = discrete_upwind(Auu.with_values(values if values.ndim == 1 else values.mean(0)), UPWIND_FRACTION)
        velocity = Componentwise(AMG(Auu, kind="air"), self.mesh.dim, n_s)
        scalar_nu = float(nu) if isinstance(nu, (int, float)) else self.nu
        Fp = self._with_pressure_bc(pressure_convection_diffusion(th, scalar_nu, w.detach().mean(0), dt))
        return BlockTriangular(th.n_u, velocity, PressureConvectionDiffusion(self._pcd_mass, Fp,
                                                                            self._pcd_laplacian), Bt)

    def courant_number(self, w: torch.Tensor, dt: float) -> float:
        """The largest cell Courant number |w| dt / h of the convecting velocity w [n_u] or
        [B, n_u] (w at the cell centroid, h the cell's longest edge)."""
        speed = Field(self.th.velocity, w.detach()).at_quadrature(0)[..., 0, :].norm(dim=-1)  # [..., C]
        return float((speed * (dt / self._cell_size)).max())

    def _with_pressure_bc(self, matrix):
        """A pressure-space matrix with the PCD pressure condition's rows and columns
        eliminated (their diagonal kept)."""
        zero = torch.zeros(self.th.n_p, dtype=matrix.dtype, device=matrix.device)
        return apply_dirichlet(matrix, zero, self.th.pressure, dofs=self._pressure_bc, values=0.0)[0]

    def divergence(self, u: torch.Tensor) -> torch.Tensor:
        """B u: the discrete divergence tested with each pressure basis function."""
        if self._divergence is None:  # B does not depend on the flow: assemble it once
            self._divergence = assemble_oseen(self.th, self.nu).divergence_block()
        return self._divergence.matvec(u)


def vorticity(th: TaylorHood, u: torch.Tensor) -> torch.Tensor:
    """2D vorticity dv/dx - du/dy of the velocity dofs u [n_u], L2-projected onto the P1
    pressure space: [n_p]."""
    if th.mesh.dim != 2:
        raise ValueError("vorticity: 2D only (in 3D project each vorticity component)")
    V, Q = th.scalar_velocity, th.pressure
    degree = V.degree + Q.degree
    vdata, qdata = element_data(V, degree), element_data(Q, degree)
    n_s = V.n_dofs
    gx = torch.einsum("cl,clqd->cqd", u[:n_s][V.scalar_cell_dofs], vdata.grad)
    gy = torch.einsum("cl,clqd->cqd", u[n_s:][V.scalar_cell_dofs], vdata.grad)
    omega = gy[..., 0] - gx[..., 1]  # [C, Q]
    local = torch.einsum("cq,lq,cq->cl", omega, qdata.value, qdata.wdet)
    load = torch.zeros(Q.n_dofs, dtype=u.dtype, device=u.device).index_add(0, Q.cell_dofs.reshape(-1), local.reshape(-1))
    Mp = assemble_matrix(mass, Q)
    x, _ = solve(Mp, load, CG(rtol=1e-12), Jacobi(Mp), check=True)
    return x


def divergence_free_projection(th: TaylorHood, u: torch.Tensor, no_penetration: tuple[str, ...] = ()) -> torch.Tensor:
    """The discretely divergence-free velocity closest to u [n_u] or [B, n_u] in the mass
    norm: solve [[M, B^T], [B, 0]] [v, q] = [M u, 0], with v = 0 on the named boundaries
    (to make an initial condition for an enclosed flow). A batch is one batched solve."""
    d, n_s = th.mesh.dim, th.scalar_velocity.n_dofs
    Mv = assemble_matrix(mass, th.scalar_velocity)
    system = assemble_oseen(th, nu=1.0)  # for its B, B^T and the stored pressure diagonal
    Bt, Bm = system.gradient_block(), system.divergence_block()
    Zp = system.matrix.block(slice(th.n_u, None), slice(th.n_u, None))
    Zp = Zp.with_values(torch.zeros_like(Zp.values))
    Mvec = block_matrix([[Mv if i == j else None for j in range(d)] for i in range(d)])
    A = block_matrix([[Mvec, Bt], [Bm, Zp]])
    U = u.reshape(-1, th.n_u)
    b = torch.cat([Mv.matvec(U.reshape(-1, n_s)).reshape(len(U), -1), u.new_zeros(len(U), th.n_p)], dim=1)
    for name in no_penetration:
        A, b = apply_dirichlet(A, b, th.velocity, dofs=dirichlet_dofs(th.velocity, name), values=0.0)
    A, b = apply_dirichlet(A, b, th.velocity, dofs=torch.tensor([th.n_u]), values=0.0)
    x, _ = solve(A, b, GMRES(rtol=1e-12, max_iters=5000, restart=200), check=True)
    return x[:, : th.n_u].reshape(u.shape)
