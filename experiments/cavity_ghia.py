"""Lid-driven cavity against Ghia, Ghia & Shin (1982): time-march the Taylor-Hood
Navier-Stokes stepper to steady state and report the centreline deviation.

    .venv/bin/python experiments/cavity_ghia.py --re 1000 --n 32 --dt 5 --max-steps 200

Re = 100 and Re = 1000 (32 x 32, dt = 5) are checked in the test suite and by `fem-prdp
verify physics`; this script runs other meshes and time steps (see experiments/RESULTS.md)."""

from __future__ import annotations

import argparse
import time

import torch

import fem_prdp.mesh as M
from fem_prdp.linalg import solve_records
from fem_prdp.physics import CappedSolver, NavierStokesStepper
from fem_prdp.physics.reference import GHIA_RE100_U, GHIA_RE1000_U


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
        with solve_records() as records:
            new = ns.step(u)
        change = float((new - u).norm() / new.norm())
        u = new
        if step % 10 == 0 or change < args.tol:
            dev = float((ns.th.velocity.evaluate(u, probe)[:, 0] - ref).abs().max())
            print(f"step {step:4d}  change {change:.2e}  max |u - Ghia| {dev:.4f}  "
                  f"GMRES its {records.max_iterations()}  {time.time() - t0:.0f} s", flush=True)
        if change < args.tol:
            break


if __name__ == "__main__":
    main()
