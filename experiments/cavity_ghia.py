"""Lid-driven cavity against Ghia, Ghia & Shin (1982): time-march the Taylor-Hood
Navier-Stokes stepper to steady state and report the centreline deviation.

    .venv/bin/python experiments/cavity_ghia.py --re 1000 --n 48 --dt 1.0 --max-steps 400

Re = 100 is checked in the test suite; Re = 1000 takes minutes on 2 cores (see
experiments/RESULTS.md)."""

from __future__ import annotations

import argparse
import time

import torch

import fem_prdp.mesh as M
from fem_prdp.physics import CappedSolver, NavierStokesStepper
from fem_prdp.physics.reference import GHIA_RE100_U

# Ghia et al. (1982), Table I, Re = 1000: u(0.5, y).
GHIA_RE1000_U = [
    (1.0000, 1.00000), (0.9766, 0.65928), (0.9688, 0.57492), (0.9609, 0.51117), (0.9531, 0.46604),
    (0.8516, 0.33304), (0.7344, 0.18719), (0.6172, 0.05702), (0.5000, -0.06080), (0.4531, -0.10648),
    (0.2813, -0.27805), (0.1719, -0.38289), (0.1016, -0.29730), (0.0703, -0.22220), (0.0625, -0.20196),
    (0.0547, -0.18109), (0.0000, 0.00000),
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--re", type=int, choices=[100, 1000], default=1000)
    p.add_argument("--n", type=int, default=48, help="cells per side (crossed diagonals)")
    p.add_argument("--dt", type=float, default=1.0)
    p.add_argument("--max-steps", type=int, default=400)
    p.add_argument("--tol", type=float, default=1e-7, help="stop when the relative change per step is below")
    args = p.parse_args()
    table = GHIA_RE100_U if args.re == 100 else GHIA_RE1000_U
    mesh = M.uniform_rectangle(args.n, diagonal="crossed")
    walls = {"top": (1.0, 0.0), "left": (0.0, 0.0), "right": (0.0, 0.0), "bottom": (0.0, 0.0)}
    ns = NavierStokesStepper(mesh, 1.0 / args.re, args.dt, walls, solver=CappedSolver("gmres", rtol=1e-8, restart=200))
    ys = torch.tensor([y for y, _ in table], dtype=torch.float64)
    ref = torch.tensor([v for _, v in table], dtype=torch.float64)
    probe = torch.stack([torch.full_like(ys, 0.5), ys], 1)
    u = torch.zeros(ns.th.n_u, dtype=torch.float64)
    t0 = time.time()
    for step in range(args.max_steps):
        new = ns.step(u)
        change = float((new - u).norm() / new.norm())
        u = new
        if step % 10 == 0 or change < args.tol:
            dev = float((ns.th.velocity.evaluate(u, probe)[:, 0] - ref).abs().max())
            print(f"step {step:4d}  change {change:.2e}  max |u - Ghia| {dev:.4f}  "
                  f"GMRES its {int(ns.solver.solve_log[-1].n_iters)}  {time.time() - t0:.0f} s", flush=True)
        if change < args.tol:
            break


if __name__ == "__main__":
    main()
