#!/usr/bin/env bash
# GPU check (a few minutes on one GPU): the `gpu`-marked tests (CUDA against CPU: solves,
# AMG, gradients through capped solves, the float32/float64 boundary, a Navier-Stokes step),
# the benchmarks on CUDA (bench solvers at full size; physics, training and peers --quick)
# and one quick case trained end to end on CUDA. Prints what to record in
# experiments/RESULTS.md, with each step's seconds; the benchmarks' JSON goes to
# $FEM_PRDP_GPU_OUT (default: a temporary folder, printed).
#
# Needs torch built with CUDA. Where it and fem_prdp's dependencies come from:
# - with .gpu-bundle beside this checkout (made by scripts/gpu_bundle.sh on a machine with
#   network access): the interpreter FEM_PRDP_GPU_PYTHON (default python3, with its CUDA
#   torch) and the bundle's wheels, installed under /tmp and put first on its path, gmsh's
#   shared libraries unpacked there too (dpkg -x), the fused CPU kernels built in place; nothing is
#   fetched. This project's lent GPU machine has no network, so there:
#       bash scripts/gpu_bundle.sh     # here, once
#       device run, carry [".gpu-bundle"], timeout_s 600:
#       set -o pipefail; FEM_PRDP_GPU_OUT=$OUT bash scripts/gpu_check.sh 2>&1 | tee $OUT/gpu_check.log
# - else FEM_PRDP_GPU_PYTHON, an interpreter that has them all;
# - else .venv-gpu, made with the package index's default torch wheel (a CUDA build on
#   Linux; the CPU-only scripts/setup.sh pins the CPU wheel).
#
# FEM_PRDP_GPU_DEVICE=cpu rehearses all of it on a machine without a GPU (before spending a
# GPU machine's scarce minutes): the same set-up and steps on the CPU, every benchmark
# --quick, the gpu-marked tests skipped. Here, with a bundle for this machine's Python:
#       FEM_PRDP_GPU_PY=3.11 bash scripts/gpu_bundle.sh
#       FEM_PRDP_GPU_PYTHON=.venv/bin/python FEM_PRDP_GPU_DEVICE=cpu bash scripts/gpu_check.sh
# (then remake the bundle for the GPU machine's Python: bash scripts/gpu_bundle.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

device="${FEM_PRDP_GPU_DEVICE:-cuda}"
case "$device" in
    cuda) quick=() ;;
    cpu) quick=(--quick) ;;
    *) echo "gpu_check: FEM_PRDP_GPU_DEVICE must be cuda or cpu (a rehearsal), got $device" >&2; exit 2 ;;
esac
budget="${FEM_PRDP_GPU_BUDGET_S:-420}"
[[ "$budget" =~ ^[0-9]+$ ]] || { echo "gpu_check: FEM_PRDP_GPU_BUDGET_S must be whole seconds, got $budget" >&2; exit 2; }
steps=" ${FEM_PRDP_GPU_STEPS:-tests solvers peers physics training case} "
for name in $steps; do
    case " tests solvers peers physics training case " in
        *" $name "*) ;;
        *) echo "gpu_check: unknown step $name in FEM_PRDP_GPU_STEPS (tests solvers peers physics training case)" >&2
           exit 2 ;;
    esac
done
py="${FEM_PRDP_GPU_PYTHON:-}"
if [ -d .gpu-bundle/wheels ]; then
    py="${py:-python3}"
    have="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    made_for="$(cat .gpu-bundle/python 2>/dev/null || echo unknown)"
    if [ "$have" != "$made_for" ]; then
        echo "gpu_check: .gpu-bundle was made for CPython $made_for but $py is $have;" \
             "remake it: FEM_PRDP_GPU_PY=$have bash scripts/gpu_bundle.sh" >&2
        exit 2
    fi
    prefix="${TMPDIR:-/tmp}/fem_prdp_gpu"
    rm -rf "$prefix"
    mkdir -p "$prefix/libs"
    "$py" -m pip install -q --no-index --no-deps --no-compile --disable-pip-version-check --prefix "$prefix" \
        .gpu-bundle/wheels/*.whl
    for deb in .gpu-bundle/debs/*.deb; do  # dpkg is there: the device notes unpack their GL packages with it
        dpkg -x "$deb" "$prefix/libs"
    done
    site="$(find "$prefix" -type d -name site-packages | head -n 1)"
    export PYTHONPATH="$root:$site${PYTHONPATH:+:$PYTHONPATH}"
    export LD_LIBRARY_PATH="$prefix/libs/usr/lib/x86_64-linux-gnu:$prefix/libs/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    "$py" -c "import gmsh; gmsh.initialize(); gmsh.finalize()" || {
        echo "gpu_check: gmsh does not load with the bundle's libraries ($prefix/libs); see the error above" >&2
        exit 1
    }
    # as `pip install` builds them (the CPU sides of the comparisons and AMG's set-up use them)
    "$py" setup.py -q build_ext --inplace >"$prefix/build.log" 2>&1 \
        || echo "gpu_check: the fused CPU kernels were not built ($prefix/build.log); the CPU runs the torch loops"
    echo "gpu_check: $py with .gpu-bundle under $prefix"
elif [ -z "$py" ]; then
    if [ ! -x .venv-gpu/bin/python ]; then
        python3 -m venv .venv-gpu
        .venv-gpu/bin/python -m pip install -q --upgrade pip
        .venv-gpu/bin/python -m pip install -q torch
    fi
    .venv-gpu/bin/python -m pip install -q -e ".[dev]"
    py=.venv-gpu/bin/python
fi
FEM_PRDP_GPU_DEVICE="$device" "$py" - <<'PY'
import os
import sys

import torch

from fem_prdp.linalg import native

if os.environ["FEM_PRDP_GPU_DEVICE"] == "cpu":
    print(f"torch {torch.__version__}; a rehearsal on the CPU (the gpu-marked tests skip); CPU: {native.status()}")
elif not torch.cuda.is_available():
    sys.exit(f"gpu_check: torch {torch.__version__} sees no CUDA device (torch.version.cuda = {torch.version.cuda}); "
             "run on a GPU machine, or set FEM_PRDP_GPU_PYTHON to an interpreter with CUDA torch")
else:
    p = torch.cuda.get_device_properties(0)
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {p.name}, {p.total_memory / 2**30:.0f} GiB; "
          f"CPU: {native.status()}")
PY

# Each step runs under its own time limit, cut to what is left of FEM_PRDP_GPU_BUDGET_S (default
# 420 s from the start: with a machine's start, one run leaves a lent GPU's 15 minutes room for
# a second, shorter one); a step that fails or runs out of time is reported and the next one
# still runs, so one run brings back everything that works. FEM_PRDP_GPU_STEPS picks steps
# for such a rerun (default all: tests solvers peers physics training case).
failed=()
step() {  # step NAME LABEL LIMIT_S COMMAND...
    local name=$1 label=$2 limit=$3 start=$SECONDS rc=0
    shift 3
    [[ "$steps" == *" $name "* ]] || return 0
    local left=$((budget - SECONDS))
    if [ "$left" -lt 20 ]; then
        echo "== $label: not run ($left s left of FEM_PRDP_GPU_BUDGET_S=$budget)"
        failed+=("$label (not run)")
        return
    fi
    [ "$left" -lt "$limit" ] && limit=$left
    echo "== $label (limit $limit s)"
    timeout --kill-after=10 "$limit" "$@" || rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "== $label: $((SECONDS - start)) s"
    else
        echo "== $label: FAILED, exit $rc$([ "$rc" -eq 124 ] && echo " (over its $limit s)") after $((SECONDS - start)) s"
        failed+=("$label")
    fi
}
out="${FEM_PRDP_GPU_OUT:-$(mktemp -d)}"
mkdir -p "$out"
echo "benchmark JSON in $out"
# the gpu-marked tests live in one module (the others need the dev extra's notebook packages)
step tests "gpu-marked tests" 120 "$py" -m pytest -m gpu -q -p no:cacheprovider tests/test_gpu.py
step solvers "bench solvers ${quick[*]}" 240 "$py" -m fem_prdp.cli bench solvers "${quick[@]}" --repeats 3 \
    --device "$device" --json "$out/bench_solvers_$device.json"
for what in peers physics training; do
    step "$what" "bench $what --quick" 120 "$py" -m fem_prdp.cli bench "$what" --quick --repeats 3 \
        --device "$device" --json "$out/bench_${what}_$device.json"
done
# the case's checkpoints and plots stay out of $out (its files come back from the GPU machine)
step case "heat-2d --quick on $device" 90 "$py" -m fem_prdp.cli run heat-2d --quick --device "$device" \
    --output "$(mktemp -d)" --no-progress
if [ "${#failed[@]}" -gt 0 ]; then
    printf 'gpu_check: failed or not run after %s s: %s\n' "$SECONDS" "$(IFS=';'; echo "${failed[*]}")" >&2
    exit 1
fi
echo "gpu_check: every step asked for passed, $SECONDS s in all"
