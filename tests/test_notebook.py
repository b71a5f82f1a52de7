"""notebooks/quickstart.ipynb runs top to bottom (small profile) and writes its figures."""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("FEM_PRDP_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("FEM_PRDP_NOTEBOOK_OUT", str(tmp_path))
    nb = nbformat.read(ROOT / "notebooks" / "quickstart.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    for name in ("mesh.png", "curves.png", "fields.png"):
        assert (tmp_path / name).stat().st_size > 1000
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "K schedule" in outputs and "paper-definition savings" in outputs
