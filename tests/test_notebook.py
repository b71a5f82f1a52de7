"""The notebooks run top to bottom: quickstart (small profile) writes its figures and shows
them inline; own_problem builds its mesh with the gmsh API, writes its PDE as forms and
recovers a conductivity field with PRDP, its pyvista figures inline."""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def _execute(name: str) -> nbformat.NotebookNode:
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    return nb


def _outputs(nb) -> tuple[str, int]:
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    text = "".join(o.get("text", "") for o in outputs)
    images = sum("image/png" in o.get("data", {}) for o in outputs)
    return text, images


def test_quickstart_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("FEM_PRDP_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("FEM_PRDP_NOTEBOOK_OUT", str(tmp_path))
    text, images = _outputs(_execute("quickstart.ipynb"))
    for name in ("mesh.png", "curves.png", "fields.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert "K schedule" in text and "paper-definition savings" in text
    assert images >= 3  # the mesh, the curves and the fields, inline
    assert (tmp_path / "quick" / "PRDPController" / "checkpoint.pt").exists()  # QUICK=False gets its own folder


def test_own_problem_notebook_recovers_the_conductivity_with_prdp():
    text, images = _outputs(_execute("own_problem.ipynb"))
    assert images == 3  # the mesh with its boundaries, conductivities, temperatures
    lines = {line.split(":")[0].strip(): line for line in text.splitlines() if ":" in line}
    prdp, base = lines["PRDP"], lines["converged"]
    iterations = [int(line.split("CG iterations ")[1].split(" forward")[0].replace(",", "")) for line in (prdp, base)]
    misfits = [float(line.split("misfit ")[1].split(",")[0]) for line in (prdp, base)]
    assert iterations[0] < 0.8 * iterations[1] and misfits[0] < 1.1 * misfits[1]  # cheaper, as accurate
    left = float(text.split("mean conductivity left ")[1].split()[0])
    right = float(text.split("right ")[1].split()[0])
    assert abs(left - 1.0) < 0.1 and abs(right - 3.0) < 0.3
