"""The shell scripts parse, and the GPU check refuses a device, a step or a budget it cannot
use in one line, before it installs anything."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "scripts").glob("*.sh")))
def test_script_parses(script):
    subprocess.run(["bash", "-n", str(ROOT / "scripts" / script)], check=True)


def test_gpu_check_rejects_an_unknown_device_in_one_line():
    out = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh")], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "FEM_PRDP_GPU_DEVICE": "tpu"})
    assert out.returncode == 2
    assert out.stderr == "gpu_check: FEM_PRDP_GPU_DEVICE must be cuda or cpu (a rehearsal), got tpu\n"


def test_gpu_check_rejects_an_unknown_step_in_one_line():
    out = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh")], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "FEM_PRDP_GPU_STEPS": "tests bench"})
    assert out.returncode == 2
    assert out.stderr == ("gpu_check: unknown step bench in FEM_PRDP_GPU_STEPS "
                          "(tests solvers peers physics training case)\n")


def test_gpu_check_rejects_a_budget_that_is_not_seconds():
    out = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh")], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "FEM_PRDP_GPU_BUDGET_S": "7m"})
    assert out.returncode == 2
    assert out.stderr == "gpu_check: FEM_PRDP_GPU_BUDGET_S must be whole seconds, got 7m\n"
