"""A 2-process torchrun (gloo, 127.0.0.1) training run, its gradients all-reduced by
DistributedDataParallel, matches the single-process run."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).with_name("dist_train.py")


def _run(args, out, env_extra=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    proc = subprocess.run([sys.executable, *args, str(SCRIPT), str(out)], capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return torch.load(out / "result.pt", weights_only=False)


@pytest.mark.slow
def test_two_process_run_matches_single_process(tmp_path):
    single = _run([], tmp_path / "one")
    double = _run(["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
                   "--master_port", "29541"], tmp_path / "two")
    for p, q in zip(single["params"], double["params"], strict=True):
        assert torch.allclose(p, q, rtol=1e-10, atol=1e-12)
    keys = ("k", "primal_iters", "adjoint_iters")
    assert [{k: h[k] for k in keys} for h in single["history"]] == [{k: h[k] for k in keys} for h in double["history"]]
    for a, b in zip(single["history"], double["history"], strict=True):
        assert a["val_metric"] == pytest.approx(b["val_metric"], rel=1e-10)
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-10)
    assert single["iters"] == double["iters"]  # cost summed over ranks
    assert (single["ddp"], double["ddp"]) == (0, 1)  # gradients reduced by DistributedDataParallel
