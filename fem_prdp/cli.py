"""`fem-prdp` command line: mesh | verify | bench | demo.

Every user error (bad file, unknown kind, bad option) exits with status 2 and one line
`fem-prdp: error: ...`, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main"]


class CLIError(Exception):
    """A user error reported as one line."""


def _mesh_info(path: str) -> dict:
    from .mesh import mesh_quality, read_mesh

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
    print(f"{info['file']}: {info['dim']}D mesh, {info['n_nodes']} nodes, {info['n_cells']} cells, "
          f"measure {info['measure']:.6g}")
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
    from .mesh import generate, read_mesh, write_mesh

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
        from .viz import plot_mesh

        mesh = read_mesh(args.file)
        print(f"wrote {plot_mesh(mesh, args.output, title=Path(args.file).name)}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .mesh import channel_cylinder, mesh_quality, write_mesh
    from .viz import plot_mesh

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
    from .mesh import GENERATORS

    p = argparse.ArgumentParser(prog="fem-prdp", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    mesh = sub.add_parser("mesh", help="generate, inspect, convert and plot meshes")
    msub = mesh.add_subparsers(dest="mesh_cmd", required=True)
    kinds = "\n".join(f"  {k:<26} {v[2]} (default h {v[1]:g})" for k, v in GENERATORS.items())
    gen = msub.add_parser("generate", help="generate a mesh", epilog="kinds:\n" + kinds,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
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
    conv.add_argument("--repair", action="store_true",
                      help="reorient inverted cells and drop unreferenced points (reported)")
    plot = msub.add_parser("plot", help="render a mesh to PNG (off-screen)")
    plot.add_argument("file")
    plot.add_argument("-o", "--output", required=True)
    mesh.set_defaults(func=_cmd_mesh)

    demo = sub.add_parser("demo", help="main job: generate, save, inspect and plot a mesh")
    demo.add_argument("--output", default="results/demo")
    demo.add_argument("--h", type=float, default=0.03)
    demo.set_defaults(func=_cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    from .mesh import MeshError

    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except (MeshError, CLIError, FileNotFoundError, ValueError) as exc:
        msg = str(exc).replace("\n", "\n  ")
        print(f"fem-prdp: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
