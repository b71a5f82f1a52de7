#!/usr/bin/env bash
# GPU check (a few minutes on one GPU): the `gpu`-marked tests (CUDA against CPU: solves,
# AMG, gradients through capped solves, the float32/float64 boundary, a Navier-Stokes step),
# the benchmarks on CUDA (bench solvers at full size; physics, training and peers --quick)
# and one quick case trained end to end on CUDA. Prints what to record in
# experiments/RESULTS.md; the benchmarks' JSON goes to $FEM_PRDP_GPU_OUT (default: a
# temporary folder, printed).
#
# Needs torch built with CUDA. FEM_PRDP_GPU_PYTHON names an interpreter that has it (and
# fem_prdp's dependencies); otherwise .venv-gpu is made with the package index's default
# torch wheel (a CUDA build on Linux; the CPU-only scripts/setup.sh pins the CPU wheel).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${FEM_PRDP_GPU_PYTHON:-}"
if [ -z "$py" ]; then
    if [ ! -x .venv-gpu/bin/python ]; then
        python3 -m venv .venv-gpu
        .venv-gpu/bin/python -m pip install -q --upgrade pip
        .venv-gpu/bin/python -m pip install -q torch
    fi
    .venv-gpu/bin/python -m pip install -q -e ".[dev]"
    py=.venv-gpu/bin/python
fi
"$py" - <<'PY'
import sys

import torch

if not torch.cuda.is_available():
    sys.exit(f"gpu_check: torch {torch.__version__} sees no CUDA device (torch.version.cuda = {torch.version.cuda}); "
             "run on a GPU machine, or set FEM_PRDP_GPU_PYTHON to an interpreter with CUDA torch")
p = torch.cuda.get_device_properties(0)
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {p.name}, {p.total_memory / 2**30:.0f} GiB")
PY
"$py" -m pytest -m gpu -q -p no:cacheprovider tests
out="${FEM_PRDP_GPU_OUT:-$(mktemp -d)}"
mkdir -p "$out"
echo "benchmark JSON in $out"
"$py" -m fem_prdp.cli bench solvers --repeats 3 --device cuda --json "$out/bench_solvers_cuda.json"
for what in physics training peers; do
    "$py" -m fem_prdp.cli bench "$what" --quick --repeats 3 --device cuda --json "$out/bench_${what}_cuda.json"
done
echo "heat-2d --quick on CUDA:"
time "$py" -m fem_prdp.cli run heat-2d --quick --device cuda --output "$out" --no-progress
