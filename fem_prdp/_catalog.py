"""Names the command line shows before anything heavy is imported: the mesh generators and
the runnable cases, each with its one-line description. `fem_prdp.mesh.GENERATORS` and
`fem_prdp.cases.CASES` are built to match (tests/test_cli.py checks both), so `fem-prdp
--help` lists everything without importing torch."""

__all__ = ["MESH_KINDS", "CASES"]

# name -> (default h, description)
MESH_KINDS: dict[str, tuple[float, str]] = {
    "interval": (0.05, "unit interval [0, 1] (gmsh); left, right"),
    "rectangle": (0.1, "unit square (gmsh); left, right, bottom, top"),
    "box": (0.2, "unit cube (gmsh); left, right, front, back, bottom, top"),
    "disk": (0.1, "unit disk (gmsh); boundary"),
    "l-shape": (0.1, "[-1,1]^2 minus [0,1]x[-1,0] (gmsh); reentrant, outer"),
    "cavity": (0.05, "lid-driven cavity, unit square (gmsh); lid, walls"),
    "channel-cylinder": (0.05, "DFG 2D channel with cylinder (gmsh); inlet, outlet, walls, cylinder"),
    "channel-cylinder-3d": (0.1, "DFG 3D channel with cylinder (gmsh); inlet, outlet, walls, cylinder"),
    "uniform-interval": (1 / 32, "uniform interval, n = 1/h cells"),
    "uniform-rectangle": (1 / 16, "uniform unit square, right diagonals"),
    "uniform-rectangle-left": (1 / 16, "uniform unit square, left diagonals"),
    "uniform-rectangle-crossed": (1 / 16, "uniform unit square, crossed diagonals"),
    "uniform-box": (1 / 8, "uniform unit cube, 6 tets per cube"),
}

# name -> description
CASES: dict[str, str] = {
    "poisson-inverse": "the paper's 1D Poisson inverse problem (Jacobi sweeps, one parameter)",
    "poisson-inverse-2d": "four eigenmode amplitudes of a source on a gmsh square (CG)",
    "heat-1d": "heat emulator, the paper's 1D setting (30 nodes, MLP)",
    "heat-2d": "heat emulator on a gmsh square (the main job; --profile paper: the authors' 2D grid)",
    "heat-3d": "heat emulator on a gmsh cube",
    "heat-3d-large": "heat emulator on a 3.4k-node cube, AMG-CG (the solve dominates)",
    "heat-2d-meshes": "one GNN on several meshes, validated on an unseen one",
    "burgers": "1D viscous Burgers emulator (GMRES, state-dependent matrices)",
    "burgers-2d": "2D vector Burgers emulator on a gmsh square",
    "navier-stokes": "Navier-Stokes correction (solver in the loop), closed box, Taylor-Hood",
    "navier-stokes-cylinder": "Navier-Stokes correction past the DFG cylinder, finer-mesh reference",
}
