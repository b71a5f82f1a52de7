import os

import pytest

os.environ.setdefault("PYVISTA_OFF_SCREEN", "true")


@pytest.fixture
def tmp_out(tmp_path):
    return tmp_path


def pytest_collection_modifyitems(config, items):
    """`gpu`-marked tests run only where torch sees a CUDA device (scripts/gpu_check.sh, which
    runs tests/test_gpu.py: keep them there)."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (run scripts/gpu_check.sh on a GPU machine)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
