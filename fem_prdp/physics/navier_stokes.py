"""Incompressible Navier-Stokes with Taylor-Hood P2-P1 elements.

Each step solves, for p = 1..picard (Oseen / Picard linearisation, w = u_old first):

    [ M/dt + nu K + C(w)   B^T ] [u_new]   [ M u_old / dt ]
    [ B                    0   ] [p_new] = [ 0            ]

(implicit Euler; `bdf2=True` uses (3 u_new - 4 u_old + u_older) / (2 dt) when the step is
given u_older as `previous=`). With dt=None the step is one steady Picard iteration. The saddle-point system is
solved by GMRES with an upper block-triangular preconditioner: an AMG V-cycle on the
constant part (M/dt + nu K) of the velocity block (built once) and the Cahouet-Chabard
Schur approximation S^-1 = nu M_p^-1 + (1/dt) L_p^-1 (built once). Velocity Dirichlet
conditions by boundary name; boundaries without one are do-nothing outflow; an enclosed
flow (every boundary Dirichlet) pins one pressure dof.
"""

from __future__ import annotations

import torch

from ..fem import (
    TaylorHood,
    apply_dirichlet,
    assemble_matrix,
    assemble_oseen,
    block_matrix,
    dirichlet_conditions,
    dirichlet_dofs,
    element_data,
    mass,
    stiffness,
)
from ..linalg import (
    AMG,
    CG,
    GMRES,
    BlockTriangular,
    CahouetChabard,
    Componentwise,
    Jacobi,
    Preconditioner,
    solve,
)
from ..mesh import Mesh
from ._common import CappedSolver, check_coefficient, check_positive, check_state, resolve_dirichlet

__all__ = ["NavierStokesStepper", "steady_state", "vorticity", "divergence_free_projection"]


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
        solver: a `CappedSolver` (default GMRES(50), rtol 1e-9); k counts inner iterations.
    """

    def __init__(self, mesh: Mesh | None, nu: float, dt: float | None, dirichlet: dict,
                 picard: int = 1, bdf2: bool = False, solver: CappedSolver | None = None,
                 spaces: TaylorHood | None = None):
        check_positive("nu", nu, "NavierStokesStepper")
        if dt is not None:
            check_positive("dt", dt, "NavierStokesStepper")
        if not isinstance(picard, int) or picard < 1:
            raise ValueError(f"NavierStokesStepper: picard must be an int >= 1, got {picard!r}")
        if bdf2 and dt is None:
            raise ValueError("NavierStokesStepper: bdf2 needs a time step dt")
        self.th = spaces or TaylorHood(mesh)
        self.mesh = self.th.mesh
        if self.mesh.dim not in (2, 3):
            raise ValueError("NavierStokesStepper: the mesh must be 2D or 3D")
        self.nu, self.dt, self.picard, self.bdf2 = nu, dt, picard, bdf2
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
        self._schur = self._cahouet_chabard(nu, dt)
        self._divergence = None

    def _cahouet_chabard(self, nu: float, dt: float | None) -> CahouetChabard:
        th = self.th
        laplacian = None
        if dt is not None:
            L = assemble_matrix(stiffness, th.pressure)
            # Pin one dof so the pressure Laplacian is invertible (pressure is up to a constant).
            L, _ = apply_dirichlet(L, torch.zeros(th.n_p, dtype=L.dtype), th.pressure,
                                   dofs=torch.zeros(1, dtype=torch.long), values=0.0)
            laplacian = AMG(L)
        return CahouetChabard(Jacobi(assemble_matrix(mass, th.pressure)), nu, laplacian, dt)

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
        w = U
        for _ in range(self.picard):
            dt = None if self.dt is None else self.dt / (1.5 if previous is not None else 1.0)
            system = assemble_oseen(th, nu, velocity=w, dt=dt)
            A, b = system.matrix, rhs
            if len(bc_dofs):
                A, b = apply_dirichlet(A, b, th.velocity, dofs=bc_dofs, values=bc_values)
            if self.pin_pressure:
                A, b = apply_dirichlet(A, b, th.velocity, dofs=torch.tensor([th.n_u]), values=0.0)
            P = BlockTriangular(th.n_u, self._velocity_preconditioner(A), self._schur,
                                A.block(slice(0, th.n_u), slice(th.n_u, None)))
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

    def _velocity_preconditioner(self, A) -> Preconditioner:
        """AMG on the current velocity block (convection included) for a single sample.
        Otherwise the AMG of the constant part, built once: for a batch (AMG is not
        batched), and for unrolled gradients, which differentiate the iterations with the
        preconditioner held fixed; a preconditioner built from the state would then make
        the unrolled derivative wrong even for a converged solve."""
        if (A.batch_size is not None and A.batch_size > 1) or self.solver.grad == "unrolled":
            return self._velocity_pc
        n_s = self.th.scalar_velocity.n_dofs
        Auu = A.block(slice(0, n_s), slice(0, n_s))
        if Auu.batch_size is not None:
            Auu = Auu.with_values(Auu.values[0])
        return Componentwise(AMG(Auu.to(dtype=Auu.dtype)), self.mesh.dim, n_s)

    def divergence(self, u: torch.Tensor) -> torch.Tensor:
        """B u: the discrete divergence tested with each pressure basis function."""
        if self._divergence is None:  # B does not depend on the flow: assemble it once
            self._divergence = assemble_oseen(self.th, self.nu).divergence_block()
        return self._divergence.matvec(u)


def steady_state(stepper: NavierStokesStepper, u0: torch.Tensor | None = None, tol: float = 1e-9,
                 max_steps: int = 60) -> torch.Tensor:
    """Repeat `stepper.step` (steady Picard iterations, or time steps) until the relative
    change of the velocity per step is below `tol`; raises if `max_steps` is not enough."""
    u = torch.zeros(stepper.th.n_u, dtype=torch.float64) if u0 is None else u0
    change = float("inf")
    for _ in range(max_steps):
        new = stepper.step(u)
        change = float((new - u).norm() / new.norm())
        u = new
        if change < tol:
            return u
    raise RuntimeError(f"steady_state: no steady state after {max_steps} steps (last relative change "
                       f"{change:.2e} > tol {tol:g}); raise max_steps, or lower the Reynolds number or dt")


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
