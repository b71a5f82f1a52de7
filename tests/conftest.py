import os

import pytest

os.environ.setdefault("PYVISTA_OFF_SCREEN", "true")


@pytest.fixture
def tmp_out(tmp_path):
    return tmp_path
