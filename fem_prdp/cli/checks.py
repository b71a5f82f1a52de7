"""`fem-prdp verify` and `fem-prdp bench`: run a check or a benchmark, print its table, and
write its JSON (`--json`). The measuring code lives in each layer's `verify` / `bench`
module; this one only presents it."""

from __future__ import annotations

import argparse
import json

__all__ = ["cmd_verify", "cmd_bench", "write_json"]


def write_json(data: dict, path: str | None) -> None:
    if path:
        from .._io import atomic_path

        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(data, indent=2))
        print(f"wrote {path}")


def cmd_verify(args: argparse.Namespace) -> int:
    if args.what == "convergence":
        return _verify_convergence(args)
    if args.what == "physics":
        return _verify_physics(args)
    from ..linalg.verify import verify_solvers

    result = verify_solvers()
    print(f"{'matrix':<22}{'n':>6} {'solver':<9}{'precond':<14}{'status':<11}{'iters':>6} {'rel. error':>11}")
    for r in result["solves"]:
        print(
            f"{r['matrix']:<22}{r['n']:>6} {r['solver']:<9}{r['precond']:<14}{r['status']:<11}"
            f"{r['iterations']:>6} {r['relative_error']:>11.2e}"
        )
    for g in result["gradients"]:
        err = "" if g["error"] is None else f" (relative error {g['error']:.2e})"
        print(f"{'PASS' if g['ok'] else 'FAIL'} {g['check']}{err}")
    print("all checks passed" if result["ok"] else "SOME CHECKS FAILED")
    write_json(result, args.json)
    return 0 if result["ok"] else 1


def _verify_convergence(args: argparse.Namespace) -> int:
    from ..fem.verify import verify_convergence

    result = verify_convergence()
    print(f"{'dim':>3} {'mesh':<8}{'bc':<10}{'P':>2} {'L2 order':>9} {'H1 order':>9}  finest L2 error")
    for r in result["rows"]:
        print(
            f"{r['dim']:>3} {r['mesh']:<8}{r['bc']:<10}{r['degree']:>2} {r['l2_order']:>9.2f} "
            f"{r['h1_order']:>9.2f}  {r['l2_errors'][-1]:.2e}{'' if r['ok'] else '  FAIL'}"
        )
    print("all orders within 0.15 of expected" if result["ok"] else "SOME ORDERS ARE OFF")
    write_json(result, args.json)
    return 0 if result["ok"] else 1


def _verify_physics(args: argparse.Namespace) -> int:
    from ..physics.verify import verify_physics

    result = verify_physics(quick=args.quick, progress=True)
    print(f"{'check':<72}{'observed':>12}{'reference':>12}{'error':>10}")
    for r in result["rows"]:
        print(f"{r['check']:<72}{r['observed']:>12.5g}{r['reference']:>12.5g}{r['error']:>10.2e}"
              f"{'' if r['ok'] else '  FAIL'}")
    print("all physics checks passed" if result["ok"] else "SOME PHYSICS CHECKS FAILED")
    write_json(result, args.json)
    return 0 if result["ok"] else 1


def _bench_physics(args: argparse.Namespace) -> int:
    from ..physics.bench import bench_physics

    result = bench_physics(quick=args.quick, repeats=args.repeats, device=args.device)
    print(f"Steps on {result['device']} (the Oseen table and the 3D channel run on the CPU)")
    print(f"{'case':<46}{'dofs':>9}{'K':>4}{'fwd s':>10}{'bwd s':>10}{'ms/iter':>9}{'K-switch':>10}")
    for r in result["rows"]:
        print(f"{r['case']:<46}{r['n_dofs']:>9}{r['k']:>4}{r['forward_s']:>10.4f}{r['backward_s']:>10.4f}"
              f"{r['forward_s_per_iteration'] * 1e3:>9.3f}{r['k_switch_cost_ratio']:>10.3f}")
    print("K-switch: time of training steps at K then K + 1 over steps at a fixed K (1 = no per-K cost)")
    print(f"\n{'Oseen solve at the Newton steady state':<40}{'dofs':>8}{'Re':>5}{'preconditioner':>17}"
          f"{'GMRES its':>10}{'status':>10}{'setup s':>9}{'solve s':>9}{'Newton s':>10}")
    for r in result["oseen"]:
        print(f"{r['case'].rsplit(' Re ', 1)[0]:<40}{r['n_dofs']:>8}{r['re']:>5}{r['preconditioner']:>17}{r['gmres_iterations']:>10}"
              f"{r['status']:>10}{r['setup_s']:>9.2f}{r['solve_s']:>9.2f}{r['newton_s']:>10.1f}")
    for r in result["steady_3d"]:
        print(f"{r['case']}: {r['n_dofs']} dofs, {r['newton_iterations']} Newton iterations, GMRES "
              f"{r['gmres_iterations']}, {r['newton_s']:.1f} s, drag coefficient {r['drag_coefficient']:.3f}")
    write_json(result, args.json)
    return 0


def _bench_assembly(args: argparse.Namespace) -> int:
    from ..fem.bench import bench_assembly

    result = bench_assembly(quick=args.quick, repeats=args.repeats)
    print(
        f"{'case':<32}{'cells':>9} {'nnz':>10} {'setup s':>9} {'reassembly s':>13} "
        f"{'Mcells/s':>9} {'copy ms':>8}"
    )
    for r in result["rows"]:
        print(
            f"{r['case']:<32}{r['n_cells']:>9} {r['nnz']:>10} {r['setup_and_pattern_s']:>9.3f} "
            f"{r['reassembly_s']:>13.4f} {r['cells_per_s'] / 1e6:>9.2f} {r['values_copy_s'] * 1e3:>8.3f}"
        )
    for r in result["oseen_vs_p1"]:
        print(
            f"Oseen / P1 stiffness time per cell at {r['n_cells']} cells: "
            f"{r['oseen_over_p1_time_per_cell']:.2f}x (non-zeros {r['nnz_ratio']:.1f}x; "
            f"copying the Oseen values alone: {r['oseen_copy_over_p1']:.2f}x)"
        )
    write_json(result, args.json)
    return 0


def _bench_training(args: argparse.Namespace) -> int:
    from ..learn.bench import bench_training

    result = bench_training(quick=args.quick, repeats=args.repeats, device=args.device)
    print(f"One training step (emulator loss, backward, optimizer), heat step capped at K = 20, "
          f"{result['torch_threads']} threads; medians, set-ups alternating")
    print(f"{'surrogate':<34}{'dofs':>6}{'batch':>6} {'set-up':<20}{'step ms':>9}{'solve ms':>9}{'network':>8}"
          f"{'speed-up':>9}")
    for r in result["rows"]:
        print(f"{r['surrogate']:<34}{r['n_dofs']:>6}{r['batch']:>6} {r['setup']:<20}{r['step_s'] * 1e3:>9.1f}"
              f"{r['solve_s'] * 1e3:>9.1f}{r['network_share']:>8.0%}{r['speedup_vs_float64']:>9.2f}")
    write_json(result, args.json)
    return 0


def _bench_peers(args: argparse.Namespace) -> int:
    from .._extras import require
    from ..fem.peers import bench_peers, torch_fem_sparse

    torch_fem_sparse()
    require("skfem", "bench", "fem-prdp bench peers", package="scikit-fem")

    result = bench_peers(quick=args.quick, repeats=args.repeats, device=args.device)
    print(f"Differentiable steady heat (P1 tetrahedra, conductivity 1e-3 + rho^3, CG to rtol 1e-10) against torch-fem "
          f"{result['torch_fem']} on the same matrix, on {result['device']}; speed-up = torch-fem time / ours; "
          f"medians, alternating")
    print(f"{'nodes':>8} {'precond':<8}{'rounds':>7}{'its':>9}{'peer':>6}{'fwd s':>8}{'peer':>8}{'speed-up':>9}{'bwd s':>8}{'peer':>8}"
          f"{'speed-up':>9}{'x floor':>8}{'peer':>6}  agreement x / dA / db")
    for r in result["solve"]:
        if "error" in r:
            print(f"{r['n_nodes']:>8} {r['preconditioner']:<8}  not compared: {r['error']}")
            continue
        floor = (f"{r['forward_over_floor']:>8.2f}{r['torch_fem_forward_over_floor']:>6.2f}" if "floor_s" in r
                 else f"{r['backward_over_products']:>8.2f}{r['torch_fem_backward_over_products']:>6.2f}"
                 if "products_floor_s" in r else f"{'':>14}")
        its = f"{r['iterations']}/{r['adjoint_iterations']}"
        print(f"{r['n_nodes']:>8} {r['preconditioner']:<8}{r['rounds']:>7}{its:>9}{r.get('torch_fem_iterations', ''):>6}{r['forward_s']:>8.3f}"
              f"{r['torch_fem_forward_s']:>8.3f}{r['forward_speedup']:>9.2f}{r['backward_s']:>8.3f}"
              f"{r['torch_fem_backward_s']:>8.3f}{r['backward_speedup']:>9.2f}{floor}  {r['agreement_x']:.0e} / "
              f"{r['agreement_grad_values']:.0e} / {r['agreement_grad_rhs']:.0e}")
    print("rounds: timed alternating rounds (--repeats, times up to 5 below 200k nodes, where one solve's time is "
          "~0.1 s and the machine's noise is largest); its: our forward / adjoint CG iterations; peer: torch-fem's "
          "own AMG-CG iterations on the same system (its Jacobi-CG is the same iteration as ours). x floor: Jacobi, "
          "forward time over the bandwidth floor of its CG "
          "iterations (ours, from the symmetric layout's half of the matrix; torch-fem's, from plain CSR); AMG, "
          "backward time over the time of our adjoint iterations' matrix products alone (torch-fem's column: the "
          "largest backward speed-up our cycle allows)")
    if result["memory"]:
        print("\nPeak memory of one forward + backward (rise over the memory before it; MB)")
        print(f"{'nodes':>8} {'precond':<8}{'ours':>9}{'peer':>9}{'ratio':>7}")
        for r in result["memory"]:
            ours, peer = r["peak_bytes"], r["torch_fem_peak_bytes"]
            if "ratio" not in r:
                print(f"{r['n_nodes']:>8} {r['preconditioner']:<8}  ours {ours}, torch-fem {peer}")
                continue
            print(f"{r['n_nodes']:>8} {r['preconditioner']:<8}{ours / 2**20:>9.1f}{peer / 2**20:>9.1f}"
                  f"{r['ratio']:>7.2f}")
    print(f"\nP1 stiffness assembly against scikit-fem {result['scikit_fem']} (ours re-assembles on the cached pattern)")
    print(f"{'nodes':>8}{'cells':>10}{'ours s':>9}{'peer s':>9}{'speed-up':>9}  agreement")
    for r in result["assembly"]:
        print(f"{r['n_nodes']:>8}{r['n_cells']:>10}{r['assembly_s']:>9.3f}{r['scikit_fem_s']:>9.3f}"
              f"{r['speedup']:>9.2f}  {r['agreement']:.0e}")
    write_json(result, args.json)
    return 0


def _check_device(args: argparse.Namespace) -> None:
    """One line (ValueError: exit status 2) for a device this machine or benchmark lacks."""
    import torch

    try:
        device = torch.device(args.device)
    except RuntimeError:
        raise ValueError(f"--device {args.device}: not a device name; use cpu or cuda[:i]") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {args.device}: this machine has no CUDA device; use --device cpu")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {args.device}: the benchmarks run on cpu or cuda[:i]")
    if device.type != "cpu" and args.what == "assembly":
        raise ValueError("--device: bench assembly runs on the CPU only; drop --device")


def cmd_bench(args: argparse.Namespace) -> int:
    _check_device(args)
    if args.what == "peers":
        return _bench_peers(args)
    if args.what == "assembly":
        return _bench_assembly(args)
    if args.what == "training":
        return _bench_training(args)
    if args.what == "physics":
        return _bench_physics(args)
    from ..fem.bench import bench_steady_heat
    from ..linalg.bench import bench_solvers

    result = bench_solvers(quick=args.quick, repeats=args.repeats, device=args.device)
    result["steady_heat"] = bench_steady_heat(quick=args.quick, repeats=max(args.repeats // 2, 1), device=args.device)
    kernels = result["kernels"]
    print(
        f"Jacobi-PCG on {result['device']}, {result['iterations']} iterations, {result['torch_threads']} threads, "
        f"{kernels}; medians"
    )
    print(
        f"{'matrix':<24}{'n':>9} {'ours ms/it':>11}{'torch':>8}{'scipy':>9}{'speedup':>9}{'floor':>8}"
        f"{'x floor':>9}{'16rhs/1':>9}{'(floor)':>9}"
    )
    for m in result["matrices"]:
        print(
            f"{m['matrix']:<24}{m['n']:>9} {m['jacobi_pcg_s_per_iter'] * 1e3:>11.3f}"
            f"{m['torch_path_s_per_iter'] * 1e3:>8.3f}"
            f"{m['scipy_jacobi_pcg_s_per_iter'] * 1e3:>9.3f}{m['speedup_vs_scipy']:>9.2f}"
            f"{m['floor_s_per_iter'] * 1e3:>8.3f}{m['ratio_to_floor']:>9.2f}"
            f"{m['rhs16_cost_per_rhs_vs_1']:>9.2f}{m['rhs16_floor_per_rhs_vs_1']:>9.2f}"
        )
    print(f"{'K':>5} {'grad':<9}{'fwd ms':>9}{'bwd ms':>9}{'bwd/fwd':>9}{'saved MB':>10}")
    for g in result["gradients"]:
        print(
            f"{g['K']:>5} {g['grad']:<9}{g['forward_s'] * 1e3:>9.2f}{g['backward_s'] * 1e3:>9.2f}"
            f"{g['backward_over_forward']:>9.2f}{g['saved_bytes'] / 2**20:>10.2f}"
        )
    print("\nSteady heat, P1 tetrahedra, conductivity 1e-3 + rho^3 per cell, CG to rtol 1e-10: forward = assembly"
          " + set-up + solve, backward = adjoint solve + gradient onto rho")
    print(f"{'nodes':>8} {'preconditioner':<15}{'its':>5}{'adjoint':>8}{'pyamg SA':>9}{'setup s':>9}{'fwd s':>8}"
          f"{'bwd s':>8}{'bwd/fwd':>8}")
    for r in result["steady_heat"]:
        print(f"{r['n_nodes']:>8} {r['preconditioner']:<15}{r['iterations']:>5}{r['adjoint_iterations']:>8}"
              f"{r['pyamg_sa_iterations']:>9}{r['setup_s']:>9.3f}{r['forward_s']:>8.3f}{r['backward_s']:>8.3f}"
              f"{r['backward_over_forward']:>8.2f}")
    write_json(result, args.json)
    return 0


