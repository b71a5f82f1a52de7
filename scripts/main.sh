#!/usr/bin/env bash
# Main job: set up .venv, then train the heat-2d emulator on a gmsh mesh with PRDP and with
# fully converged physics, and print the savings table (results/heat-2d/ gets the outputs).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
cd "$root"
exec .venv/bin/fem-prdp run heat-2d "$@"
