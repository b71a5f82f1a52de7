"""`fem-prdp` command line: run | report | mesh | verify | bench | demo.

Every user error (bad file, unknown kind, bad option) exits with status 2 and one line
`fem-prdp: error: ...`, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from .checks import cmd_bench, cmd_verify, write_json

__all__ = ["main"]


class CLIError(Exception):
    """A user error reported as one line."""


def _mesh_info(path: str) -> dict:
    from ..mesh import mesh_quality, read_mesh

    mesh = read_mesh(path)
    return {
        "file": path,
        "dim": mesh.dim,
        "n_nodes": mesh.n_nodes,
        "n_cells": mesh.n_cells,
        "measure": mesh.measure(),
        "boundaries": {k: {"tag": v, "facets": mesh.facet_count(k)} for k, v in mesh.boundaries.items()},
        "subdomains": dict(mesh.subdomains),
        "quality": mesh_quality(mesh).to_dict(),
    }


def _print_info(info: dict) -> None:
    q = info["quality"]
    print(
        f"{info['file']}: {info['dim']}D mesh, {info['n_nodes']} nodes, {info['n_cells']} cells, "
        f"measure {info['measure']:.6g}"
    )
    print("boundaries:")
    for name, b in info["boundaries"].items():
        print(f"  {name:<16} tag {b['tag']:<4} {b['facets']} facets")
    print(f"cell size (longest edge): {q['h_min']:.4g} .. {q['h_max']:.4g}")
    if info["dim"] > 1:
        kind = "triangle angles" if info["dim"] == 2 else "dihedral angles"
        print(f"{kind}: {q['min_angle']:.1f} .. {q['max_angle']:.1f} deg")
        print(f"aspect ratio: max {q['max_aspect_ratio']:.3g}, mean {q['mean_aspect_ratio']:.3g}")
    print("size histogram: " + " ".join(str(c) for c in q["size_hist"]))


def _cmd_mesh(args: argparse.Namespace) -> int:
    from ..mesh import generate, read_mesh, write_mesh

    if args.mesh_cmd == "generate":
        mesh = generate(args.kind, args.h)
        out = write_mesh(mesh, args.output, msh_version=args.msh_version)
        print(f"wrote {out}: {mesh}")
    elif args.mesh_cmd == "info":
        info = _mesh_info(args.file)
        if args.json:
            print(json.dumps(info, indent=2))
        else:
            _print_info(info)
    elif args.mesh_cmd == "convert":
        mesh = read_mesh(args.input, repair=args.repair)
        out = write_mesh(mesh, args.output, msh_version=args.msh_version)
        print(f"wrote {out}")
    elif args.mesh_cmd == "plot":
        from ..viz import plot_mesh

        mesh = read_mesh(args.file)
        print(f"wrote {plot_mesh(mesh, args.output, title=Path(args.file).name)}")
    return 0


def _print_summary(s: dict) -> None:
    from ..cases.report import headline

    p, c = s["prdp"], s["converged"]
    pct = lambda x: "n/a" if x is None else f"{100 * x:.0f}%"  # noqa: E731
    print(f"\n{s['case']}: {s['mesh']}, {s['n_dofs']} unknowns; {s['solver']}; converged solves need "
          f"K_eps = {s['k_converged']}")
    runs = {"PRDP": p, "converged": c, **s["fixed_k"]}
    print(f"{'':<28}" + "".join(f"{name:>14}" for name in runs))
    rows = [("solver iterations", "iterations", "{:>14,}"), ("final validation nMSE", "final_val_metric", "{:>14.3e}"),
            ("wall time (s)", "wall_s", "{:>14.1f}")]
    if "theta_rel_error" in p:
        rows.append(("parameter rel. error", "theta_rel_error", "{:>14.2e}"))
    for label, key, fmt in rows:
        print(f"{label:<28}" + "".join(fmt.format(r[key]) for r in runs.values()))
    print(f"{'solver share of step time':<28}" + "".join(f"{pct(r['solver_share']):>14}" for r in runs.values()))
    print(headline(s))
    print("PRDP K schedule: " + " ".join(str(k) for k in p["k_schedule"]))
    d = s["paper_definition"]
    print(f"paper definition (vs K_eps = {d['k_converged']} every epoch): total {pct(d['total_savings'])}, "
          f"incomplete convergence {pct(d['incomplete_convergence_savings'])}, "
          f"progressive refinement {pct(d['progressive_refinement_savings'])}")


def _cmd_run(args: argparse.Namespace) -> int:
    import os
    import shutil

    import torch

    from ..cases import case_config, run_case

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise CLIError(f"--device {args.device}: this machine has no CUDA device; use --device cpu")
    if "RANK" in os.environ and not torch.distributed.is_initialized():  # launched by torchrun
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        if args.device == "cuda":  # one GPU per rank on each node
            args.device = f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
            torch.cuda.set_device(args.device)
    main_rank = not torch.distributed.is_initialized() or torch.distributed.get_rank() == 0
    if args.epochs is not None and args.epochs < 1:
        raise CLIError(f"--epochs {args.epochs}: train at least one epoch (--epochs 1 or more)")
    if args.seeds < 1:
        raise CLIError(f"--seeds {args.seeds}: run at least one seed (--seeds 1 or more)")
    if args.mesh is not None and args.h is not None and os.path.exists(args.mesh):
        raise CLIError(f"--h {args.h:g}: {args.mesh} is a mesh file, whose element size is fixed; drop --h "
                       "(or give a generator name to --mesh)")
    profile = "quick" if args.quick else args.profile
    fixed_k = None if args.fixed_k is None else tuple(int(k) for k in args.fixed_k.split(",") if k)
    try:
        cfg = case_config(args.case, profile, mesh=args.mesh, h=args.h, epochs=args.epochs, model=args.model,
                          device=args.device, fixed_k=fixed_k)
        cfg = dataclasses.replace(cfg, **_settings(cfg, args.set or []))
    except ValueError as e:
        raise CLIError(str(e)) from None
    if cfg.model == "gnn":  # say so before any data is built
        from .._extras import require

        require("torch_geometric", "gnn", "--model gnn")
    out = Path(args.output) / args.case
    if args.fresh and out.exists():
        shutil.rmtree(out)
    for seed in range(args.seeds):
        s = run_case(args.case, dataclasses.replace(cfg, seed=seed), out / f"seed-{seed}", progress=not args.no_progress,
                     announce=print if main_rank else None)
        if main_rank:
            _print_summary(s)
    if main_rank:
        print(f"\nresults in {out}/ (summary.json, curves.png, fields.vtu, per-run metrics.json and checkpoints)")
    return 0


def _settings(cfg, items: list[str]) -> dict:
    """`--set KEY=VALUE` items as config overrides, each VALUE read as its setting's type."""
    known = dataclasses.asdict(cfg)
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise ValueError(f"--set {item!r}: write KEY=VALUE, e.g. --set k_min=8")
        if key not in known:
            raise ValueError(f"--set: this case has no setting {key!r}; settings: {', '.join(sorted(known))}")
        current, text = known[key], text.strip()
        try:
            if isinstance(current, bool):
                if text.lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                value = text.lower() in ("true", "1")
            elif isinstance(current, tuple):  # comma-separated, as the tuple's elements (int when empty)
                kind = type(current[0]) if current else int
                value = tuple(kind(v) for v in text.split(",") if v)
            elif current is None or isinstance(current, float):
                value = None if text.lower() == "none" else float(text)
            elif isinstance(current, int):
                value = int(text)
            else:
                value = text
        except ValueError:
            raise ValueError(f"--set {key}={text}: not a valid {type(current).__name__} "
                             f"(the current value is {current!r})") from None
        out[key] = value
    return out


def _cmd_report(args: argparse.Namespace) -> int:
    from ..cases.report import accuracy_verdict, collect_summaries, combine

    runs_by_case = collect_summaries(args.results)
    table = {case: combine(runs) for case, runs in runs_by_case.items()}
    for case, rows in table.items():
        n = next(iter(rows.values()))["n"]
        print(f"\n{case} ({n} run{'s' if n > 1 else ''}): mean +- std (min .. max)")
        for name, r in rows.items():
            pct = "savings" in name or name.startswith("  ")
            fmt = (lambda v: f"{100 * v:.1f}%") if pct else (lambda v: f"{v:.4g}")
            extra = f", geometric mean {r['geomean']:.4g}" if "geomean" in r else ""
            print(f"  {name:<40}{fmt(r['mean']):>10} +- {fmt(r['std'])} ({fmt(r['min'])} .. {fmt(r['max'])}){extra}")
        v = rows["accuracy"] = accuracy_verdict(runs_by_case[case])
        where = {"below": "below it (PRDP more accurate)", "inside": "inside it",
                 "above": "ABOVE it (PRDP less accurate)"}[v["position"]]
        print(f"  PRDP mean final nMSE {v['prdp_mean']:.4g} against the converged runs' range "
              f"({v['converged_min']:.4g} .. {v['converged_max']:.4g}): {where}; "
              f"within their mean +- std: {'yes' if v['inside_converged_mean_pm_std'] else 'no'}; PRDP at or below "
              f"its converged twin in {v['prdp_at_or_below_converged']} of {v['runs']} runs")
    write_json(table, args.json)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from ..mesh import channel_cylinder, mesh_quality, write_mesh
    from ..viz import plot_mesh

    out = Path(args.output)
    mesh = channel_cylinder(h=args.h)
    print(f"generated {mesh}")
    msh = write_mesh(mesh, out / "channel_cylinder.msh")
    vtu = write_mesh(mesh, out / "channel_cylinder.vtu")
    png = plot_mesh(mesh, out / "channel_cylinder.png", title="DFG channel with cylinder")
    _print_info(_mesh_info(str(msh)))
    q = mesh_quality(mesh)
    print(f"wrote {msh}, {vtu}, {png} (min angle {q.min_angle:.1f} deg)")
    return 0


def _parser() -> argparse.ArgumentParser:
    # Names and descriptions from the catalog: --help imports neither torch nor the layers.
    from .._catalog import CASES, MESH_KINDS

    p = argparse.ArgumentParser(
        prog="fem-prdp", description="Differentiable finite-element physics, trained with PRDP.",
        epilog="main job: fem-prdp run heat-2d (bash scripts/main.sh); cases:\n"
               + "\n".join(f"  {name:<24} {text}" for name, text in CASES.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="{run,report,mesh,verify,bench,demo}")

    mesh = sub.add_parser("mesh", help="generate, inspect, convert and plot meshes")
    msub = mesh.add_subparsers(dest="mesh_cmd", required=True)
    kinds = "\n".join(f"  {k:<26} {text} (default h {h:g})" for k, (h, text) in MESH_KINDS.items())
    gen = msub.add_parser(
        "generate",
        help="generate a mesh",
        epilog="kinds:\n" + kinds,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    gen.add_argument("kind", help="mesh kind (see below)")
    gen.add_argument("--h", type=float, default=None, help="element size")
    gen.add_argument("-o", "--output", required=True, help="output file (.msh, .vtu, .xdmf)")
    gen.add_argument("--msh-version", default="4.1", choices=["4.1", "2.2"])
    info = msub.add_parser("info", help="print size, boundaries and quality of a mesh file")
    info.add_argument("file")
    info.add_argument("--json", action="store_true", help="print JSON")
    conv = msub.add_parser("convert", help="convert between .msh (2.2/4.1), .vtu and .xdmf")
    conv.add_argument("input")
    conv.add_argument("output")
    conv.add_argument("--msh-version", default="4.1", choices=["4.1", "2.2"])
    conv.add_argument(
        "--repair",
        action="store_true",
        help="reorient inverted cells and drop unreferenced points (reported)",
    )
    plot = msub.add_parser("plot", help="render a mesh to PNG (off-screen)")
    plot.add_argument("file")
    plot.add_argument("-o", "--output", required=True)
    mesh.set_defaults(func=_cmd_mesh)

    verify = sub.add_parser("verify", help="correctness tables against independent references")
    verify.add_argument("what", choices=["solvers", "convergence", "physics"])
    verify.add_argument("--json", default=None, help="also write the results to this JSON file")
    verify.add_argument("--quick", action="store_true",
                        help="physics: skip the Re = 1000 cavity (about 2 minutes on 2 cores)")
    verify.set_defaults(func=cmd_verify)

    bench = sub.add_parser("bench", help="speed benchmarks (medians; ratios within one run)")
    bench.add_argument("what", choices=["solvers", "assembly", "physics", "training", "peers"])
    bench.add_argument("--json", default=None, help="also write the results to this JSON file")
    bench.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    bench.add_argument("--repeats", type=int, default=5)
    bench.add_argument("--device", default="cpu",
                       help="cpu or cuda[:i] for solvers, physics, training and peers (assembly: cpu)")
    bench.set_defaults(func=cmd_bench)

    # Case names are checked by case_config (importing the cases here would slow every command).
    run = sub.add_parser("run", help="train a case with PRDP and the converged baseline (main job: run heat-2d)",
                         epilog="cases:\n" + "\n".join(f"  {name:<24} {text}" for name, text in CASES.items()),
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("case", help="one of: " + ", ".join(CASES))
    run.add_argument("--profile", default="default",
                     help="default (minutes on 2 cores), quick (CI-sized), paper (the authors' settings)")
    run.add_argument("--quick", action="store_true", help="same as --profile quick")
    run.add_argument("--mesh", default=None, help="generator name or mesh file (default: the case's)")
    run.add_argument("--h", type=float, default=None, help="mesh size for a generator")
    run.add_argument("--epochs", type=int, default=None)
    run.add_argument("--model", choices=["mlp", "gnn"], default=None, help="surrogate (default mlp)")
    run.add_argument("--fixed-k", default=None, help="comma-separated K values for fixed-K baselines, e.g. 5,20")
    run.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    run.add_argument("--seeds", type=int, default=1)
    run.add_argument("--set", action="append", metavar="KEY=VALUE",
                     help="any other setting of the case, e.g. --set k_min=8 --set k_step=8 --set gnn_width=32 "
                          "(repeatable; a wrong name lists the settings)")
    run.add_argument("--output", default="results")
    run.add_argument("--fresh", action="store_true", help="discard checkpoints instead of resuming")
    run.add_argument("--no-progress", action="store_true")
    run.set_defaults(func=_cmd_run)

    report = sub.add_parser("report", help="combine run summaries (seeds, cases) into one table")
    report.add_argument("results", nargs="+", help="result folders or summary.json files")
    report.add_argument("--json", default=None)
    report.set_defaults(func=_cmd_report)

    demo = sub.add_parser("demo", help="generate, save, inspect and plot the DFG channel mesh")
    demo.add_argument("--output", default="results/demo")
    demo.add_argument("--h", type=float, default=0.03)
    demo.set_defaults(func=_cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    from .._extras import MissingExtraError  # light: the layers load only when a command runs

    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except (CLIError, FileNotFoundError, ValueError, MissingExtraError) as exc:  # MeshError is a ValueError
        msg = str(exc).replace("\n", "\n  ")
        print(f"fem-prdp: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # training runs raise RunInterrupted, saying where they stopped
        message = str(exc) or "interrupted; run the same command again to resume"
        print(f"\nfem-prdp: {message}", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        from ..learn import TrainingError

        if not isinstance(exc, TrainingError):
            raise
        print(f"fem-prdp: error: {exc}", file=sys.stderr)  # a failed solve stopped training
        return 1

