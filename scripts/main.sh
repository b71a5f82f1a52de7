#!/usr/bin/env bash
# Main job: set up .venv, then run the demo pipeline (results/ gets the outputs).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
cd "$root"
exec .venv/bin/fem-prdp demo "$@"
