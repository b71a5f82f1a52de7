"""Forces by the residual formulation against the Schäfer-Turek DFG 2D-1 benchmark (Re 20,
steady), the Taylor-Hood solution from a sparse direct solve (an independent reference of
the discrete system), field gradients at points, and the DFG 2D-2 period analysis."""

import math

import pytest
import scipy.sparse.linalg as sla
import torch

import fem_prdp.mesh as M
from fem_prdp.fem import FunctionSpace, TaylorHood, apply_dirichlet, assemble_oseen, dirichlet_conditions
from fem_prdp.physics import boundary_force, drag_lift_coefficients
from fem_prdp.physics.dfg import dfg_2d_2, periodic_extremes

NU, U_MAX = 1e-3, 0.3  # DFG 2D-1: Re = U_mean D / nu = 20


def _dfg_2d_1(h=0.04, h_cylinder=0.005):
    mesh = M.channel_cylinder(h=h, h_cylinder=h_cylinder)
    th = TaylorHood(mesh)
    H = M.DFG_2D["height"]

    def inflow(x):
        return torch.stack([4 * U_MAX * x[:, 1] * (H - x[:, 1]) / H**2, torch.zeros_like(x[:, 0])], 1)

    dofs, values = dirichlet_conditions(th.velocity, {"inlet": inflow, "walls": (0.0, 0.0), "cylinder": (0.0, 0.0)})
    u = torch.zeros(th.n_u, dtype=torch.float64)
    for _ in range(40):  # Picard iterations, each a direct solve
        A, b = apply_dirichlet(assemble_oseen(th, NU, velocity=u).matrix, torch.zeros(th.n_u + th.n_p, dtype=torch.float64),
                               th.velocity, dofs=dofs, values=values)
        x = torch.from_numpy(sla.spsolve(A.to_scipy().tocsc(), b.numpy()))
        change = float((x[: th.n_u] - u).norm() / x[: th.n_u].norm())
        u, p = x[: th.n_u], x[th.n_u:]
        if change < 1e-11:
            return th, u, p
    raise AssertionError(f"Picard did not converge (last change {change:.1e})")


def test_dfg_2d_1_drag_lift_and_pressure_drop_fall_inside_the_published_bands():
    th, u, p = _dfg_2d_1()
    force = boundary_force(th, u, p, NU, "cylinder")
    c_d, c_l = drag_lift_coefficients(force, mean_velocity=2 * U_MAX / 3, diameter=2 * M.DFG_2D["radius"])
    dp = th.pressure.evaluate(p, torch.tensor([[0.15, 0.2], [0.25, 0.2]], dtype=torch.float64))
    # Schäfer & Turek (1996), Table 4 (2D-1): c_D 5.57-5.59, c_L 0.0104-0.0110, dp 0.1172-0.1176;
    # measured here (11.8k dofs): 5.5739, 0.01057, 0.11738
    assert 5.57 <= float(c_d) <= 5.59
    assert 0.0104 <= float(c_l) <= 0.0110
    assert 0.1172 <= float(dp[0] - dp[1]) <= 0.1176
    with pytest.raises(M.MeshError, match="unknown boundary 'wing'"):
        boundary_force(th, u, p, NU, "wing")
    with pytest.raises(ValueError, match="u_old and dt together"):
        boundary_force(th, u, p, NU, "cylinder", u_old=u)
    # A time step's residual adds the inertia: a steady state has none.
    torch.testing.assert_close(boundary_force(th, u, p, NU, "cylinder", u_old=u, dt=0.1), force)
    # BDF2 inertia (3 u - 4 u_old + u_older) / (2 dt) with u_older = u_old is the Euler rate
    # over 2 dt / 3.
    u_old = 0.9 * u
    torch.testing.assert_close(boundary_force(th, u, p, NU, "cylinder", u_old=u_old, dt=0.3, u_older=u_old),
                               boundary_force(th, u, p, NU, "cylinder", u_old=u_old, dt=0.2))
    with pytest.raises(ValueError, match="u_older"):
        boundary_force(th, u, p, NU, "cylinder", u_older=u)


def test_gradients_at_points_are_exact_for_the_space_polynomials():
    V = FunctionSpace(M.rectangle(h=0.3), 2, shape=(2,))
    u = V.interpolate(lambda x: torch.stack([x[:, 0] ** 2 + 3 * x[:, 0] * x[:, 1], x[:, 1] ** 2 - x[:, 0]], 1))
    pts = torch.rand(20, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    g = V.evaluate_gradient(u, pts)  # [P, 2 components, 2 directions]
    x, y = pts[:, 0], pts[:, 1]
    exact = torch.stack([torch.stack([2 * x + 3 * y, 3 * x], 1), torch.stack([-torch.ones_like(x), 2 * y], 1)], 1)
    torch.testing.assert_close(g, exact, rtol=1e-10, atol=1e-10)
    scalar = FunctionSpace(M.rectangle(h=0.3), 1)
    gs = scalar.evaluate_gradient(scalar.interpolate(lambda x: 2 * x[:, 0] - x[:, 1]), pts)
    torch.testing.assert_close(gs, torch.tensor([2.0, -1.0], dtype=torch.float64).expand(20, 2))


def test_periodic_extremes_recover_the_maxima_and_frequency_of_a_sampled_signal():
    t = torch.arange(1, 801, dtype=torch.float64) * 0.01  # 8 s sampled at 0.01 s
    f = 3.0
    lift = 1.0 * torch.sin(2 * math.pi * f * t + 0.3) + 0.05 * torch.exp(-t)  # a decaying start
    drag = 3.2 + 0.02 * torch.sin(4 * math.pi * f * t + 1.1)
    out = periodic_extremes(t, drag, lift, periods=3)
    assert abs(out["frequency"] - f) < 1e-4
    assert abs(out["maximum lift coefficient"] - 1.0) < 1e-3  # parabola through the samples
    assert abs(out["maximum drag coefficient"] - 3.22) < 2e-4
    assert out["periodic"] < 1e-3
    with pytest.raises(ValueError, match="run longer"):
        periodic_extremes(t[:30], drag[:30], lift[:30], periods=3)


def test_dfg_2d_2_runs_the_projects_stepper_and_says_when_the_run_is_too_short():
    """The 2D-2 driver end to end on a coarse mesh: the flow from rest has not started to
    shed in 0.2 s, so there is no period to measure; the error says to run longer."""
    with pytest.raises(ValueError, match="run longer"):
        dfg_2d_2(h=0.12, dt=0.05, t_end=0.2)
