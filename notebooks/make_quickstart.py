"""Regenerate notebooks/quickstart.ipynb (cells without outputs): python notebooks/make_quickstart.py"""

import nbformat as nbf

cells = []
md = lambda s: cells.append(nbf.v4.new_markdown_cell(s))  # noqa: E731
code = lambda s: cells.append(nbf.v4.new_code_cell(s))  # noqa: E731

md("""# fem_prdp quickstart

Load a mesh, look at it, train a mesh GNN through a capped heat solve with PRDP choosing the
iteration cap K, and compare with fully converged training. Small sizes so it runs in under
a minute on a laptop CPU; set `QUICK = False` for a longer run.""")
code("""import os
from pathlib import Path

import matplotlib.pyplot as plt
import pyvista as pv
import torch

import fem_prdp.mesh as M
from fem_prdp.fem import FunctionSpace
from fem_prdp.learn import EmulatorTask, GraphFieldModel, Trainer, mesh_to_graph, random_fields, reference_trajectories
from fem_prdp.physics import CappedSolver, HeatStepper
from fem_prdp.prdp import Converged, PRDPController, savings_report

pv.OFF_SCREEN = True
QUICK = os.environ.get("FEM_PRDP_NOTEBOOK_QUICK", "1") == "1"
ROOT = Path.cwd() if (Path.cwd() / "meshes").exists() else Path.cwd().parent
OUT = Path(os.environ.get("FEM_PRDP_NOTEBOOK_OUT", "notebook-output"))
OUT.mkdir(exist_ok=True)
torch.manual_seed(0)""")
md("## 1. A mesh from `meshes/`, with its named boundaries")
code("""mesh = M.read_mesh(ROOT / "meshes" / "cavity.msh")
print(mesh)
print(M.mesh_quality(mesh))
plotter = pv.Plotter(off_screen=True, window_size=(500, 500))
plotter.add_mesh(mesh.to_pyvista(), show_edges=True, color="lightsteelblue")
plotter.view_xy()
plotter.screenshot(OUT / "mesh.png")
plotter.close()""")
md("## 2. Physics: a heat step whose CG solve is capped at K, and reference data")
code("""V = FunctionSpace(mesh, 1)
stepper = HeatStepper(V, nu=1.0, dt=2e-3, dirichlet={"lid": 0.0, "walls": 0.0}, solver=CappedSolver("cg", rtol=1e-8))
n_train, n_val = (24, 8) if QUICK else (120, 16)
u0 = random_fields(V.dof_points, n_train + n_val, seed=1)
u0[:, V.boundary_dofs()] = 0.0
data = reference_trajectories(stepper.step, u0, 2)   # converged solves
data.shape""")
md("## 3. Train a MeshGraphNet with PRDP, and with converged physics")
code("""def train(controller, epochs=8 if QUICK else 30):
    torch.manual_seed(0)
    model = GraphFieldModel(mesh_to_graph(mesh), width=16 if QUICK else 64, steps=2 if QUICK else 4).double()
    trainer = Trainer(EmulatorTask(model, stepper), torch.optim.Adam(model.parameters(), lr=2e-3), controller,
                      data[:n_train], data[n_train:], batch_size=8, checkpoint_dir=OUT / type(controller).__name__,
                      progress=False)
    trainer.fit(epochs)
    return trainer

prdp = train(PRDPController(plateau_threshold=0.9))
base = train(Converged())
k_eps = max(base.k_converged)
report = savings_report([h["k"] for h in prdp.history], k_eps)
print(f"K schedule: {[h['k'] for h in prdp.history]}")
print(f"iterations: PRDP {prdp.meter.total().iterations:,} vs converged {base.meter.total().iterations:,}")
print(f"paper-definition savings vs K_eps = {k_eps}: {report['total_savings']:.0%}")""")
md("## 4. The K schedule, accuracy and cost")
code("""fig, ax = plt.subplots(1, 3, figsize=(12, 3.2))
ax[0].semilogy([h["val_metric"] for h in prdp.history], label="PRDP")
ax[0].semilogy([h["val_metric"] for h in base.history], label="converged")
ax[0].set(title="validation nMSE", xlabel="epoch"); ax[0].legend()
ax[1].step(range(len(prdp.history)), [h["k"] for h in prdp.history], where="post")
ax[1].set(title="K (CG iterations)", xlabel="epoch")
for t, name in ((prdp, "PRDP"), (base, "converged")):
    ax[2].plot(torch.cumsum(torch.tensor([h["primal_iters"] + h["adjoint_iters"] for h in t.history]), 0), label=name)
ax[2].set(title="cumulative solver iterations", xlabel="epoch"); ax[2].legend()
fig.tight_layout(); fig.savefig(OUT / "curves.png")""")
md("## 5. Predicted vs reference field (pyvista, off-screen)")
code("""with torch.no_grad():
    _, u2 = prdp.task.rollout(data[n_train:n_train + 1, 0], None)
plotter = pv.Plotter(shape=(1, 2), off_screen=True, window_size=(900, 420))
for i, (name, field) in enumerate((("reference", data[n_train, 2]), ("PRDP-trained GNN + physics", u2[0]))):
    plotter.subplot(0, i)
    plotter.add_mesh(mesh.to_pyvista(point_data={"u": field}), scalars="u", cmap="viridis")
    plotter.add_text(name, font_size=10)
    plotter.view_xy()
plotter.screenshot(OUT / "fields.png")
plotter.close()
float(((u2[0] - data[n_train, 2]) ** 2).sum() / (data[n_train, 2] ** 2).sum())""")

nb = nbf.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
nbf.write(nb, "notebooks/quickstart.ipynb")
