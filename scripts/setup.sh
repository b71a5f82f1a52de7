#!/usr/bin/env bash
# Idempotent set-up: a project-local virtual environment in .venv with fem_prdp installed
# (editable) and its dependencies, the fused CPU kernels compiled. Re-running is cheap: pip
# is skipped while pyproject.toml, setup.py and the kernel sources are unchanged since the
# last successful install.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$py" -m venv .venv
fi
stamp=.venv/.fem_prdp-installed
changed=0
for f in pyproject.toml setup.py scripts/setup.sh fem_prdp/linalg/_csrc/*; do
    if [ "$f" -nt "$stamp" ]; then changed=1; fi
done
# The install also compiles the fused CPU kernels (setup.py): rerun it when their sources change.
if [ ! -f "$stamp" ] || [ "$changed" = 1 ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    # Pin torch to the CPU wheel this machine kind provides; an unpinned torch pulls CUDA.
    .venv/bin/python -m pip install -q "torch==${FEM_PRDP_TORCH:-2.13.0}"
    .venv/bin/python -m pip install -q -e ".[dev]"
    touch "$stamp"
fi
