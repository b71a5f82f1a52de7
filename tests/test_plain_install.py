"""A plain `pip install` (no extras) runs every MLP path: without PyTorch Geometric the
package imports, an MLP case trains, and `--model gnn` says in one line which extra to
install (exit status 2). PyG is hidden from a subprocess by `sys.modules[...] = None`."""

import subprocess
import sys

RUN = """
import sys
sys.modules["torch_geometric"] = None  # as if never installed
from fem_prdp.cli import main
sys.exit(main({args!r}))
"""


def _run(args):
    return subprocess.run([sys.executable, "-c", RUN.format(args=args)], capture_output=True, text=True, timeout=600)


def test_mlp_case_runs_without_pyg_and_gnn_names_the_extra(tmp_path):
    base = ["run", "heat-1d", "--quick", "--epochs", "2", "--output", str(tmp_path), "--no-progress"]
    ok = _run(base)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "fewer solver iterations" in ok.stdout and "final validation error" in ok.stdout
    gnn = _run([*base, "--model", "gnn", "--fresh"])
    assert gnn.returncode == 2
    assert gnn.stderr.strip().splitlines() == [
        'fem-prdp: error: --model gnn needs torch_geometric, which is not installed: pip install "fem_prdp[gnn]" '
        "(or pip install torch_geometric)"]
