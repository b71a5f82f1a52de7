"""The shell scripts parse, and the GPU check refuses a device, a step or a budget it cannot
use in one line, before it installs anything."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "scripts").glob("*.sh")))
def test_script_parses(script):
    subprocess.run(["bash", "-n", str(ROOT / "scripts" / script)], check=True)


@pytest.mark.parametrize("setting, message", [
    ({"FEM_PRDP_GPU_DEVICE": "tpu"}, "FEM_PRDP_GPU_DEVICE must be cuda or cpu (a rehearsal), got tpu"),
    ({"FEM_PRDP_GPU_STEPS": "tests bench"},
     "unknown step bench in FEM_PRDP_GPU_STEPS (tests solvers peers physics training case)"),
    ({"FEM_PRDP_GPU_BUDGET_S": "7m"}, "FEM_PRDP_GPU_BUDGET_S must be whole seconds, got 7m"),
])
def test_gpu_check_refuses_a_bad_setting_in_one_line(setting, message):
    out = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh")], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", **setting})
    assert out.returncode == 2
    assert out.stderr == f"gpu_check: {message}\n"
