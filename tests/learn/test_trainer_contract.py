"""The trainer's contract with any task and any data: solve records flow to the cost meter,
failed solves stop the run with one named error, checkpoints refuse another configuration,
and a stepper of the user's own (built from forms) plugs in."""

import pytest
import torch

import fem_prdp.mesh as M
from fem_prdp.fem import FunctionSpace, apply_dirichlet, assemble_matrix, mass, stiffness
from fem_prdp.learn import (
    EmulatorTask,
    FieldMLP,
    InverseTask,
    ParameterModel,
    ResumeError,
    Trainer,
    TrainingError,
    random_fields,
    reference_trajectories,
)
from fem_prdp.linalg import CG, Jacobi, solve
from fem_prdp.physics import CappedSolver, HeatStepper, PoissonProblem, Stepper
from fem_prdp.prdp import FixedK, PRDPController


class ReactionDiffusion:
    """A user's own stepper from forms: (M + dt (K + c M)) u_new = M u_old, a per-call
    reaction rate c, following the physics contract."""

    def __init__(self, space, dt=1e-2, c=1.0, scale=1.0, own_solve=False):
        self.space, self.dt, self.c, self.scale, self.own_solve = space, dt, c, scale, own_solve
        self.n_state = space.n_dofs
        self.M, self.K = assemble_matrix(mass, space), assemble_matrix(stiffness, space)
        self.solver = CappedSolver("cg")

    def step(self, u, k=None, x0=None, *, c=None):
        c = self.c if c is None else c
        A = self.M.with_values(self.M.values + self.dt * (self.K.values + c * self.M.values))
        A, b = apply_dirichlet(A, self.scale * self.M.matvec(u), self.space, "left", "right", values=0.0)
        if self.own_solve:  # a user who calls linalg.solve and never reads the status
            return solve(A, b, CG(rtol=0.0, max_iters=k or 50), Jacobi(A), x0)[0]
        return self.solver(A, b, k, Jacobi(A), x0)


def _data(stepper, n=24, seed=0):
    V = stepper.space
    u0 = random_fields(V.dof_points, n, seed=seed)
    u0[:, V.boundary_dofs()] = 0.0
    return reference_trajectories(stepper.step, u0, 2)


def _emulator(stepper, seed=0):
    torch.manual_seed(seed)
    model = FieldMLP(stepper.n_state, width=16, depth=1).double()
    return EmulatorTask(model, stepper), torch.optim.Adam(model.parameters(), lr=1e-3)


def test_own_stepper_follows_the_contract_and_trains_with_costs_from_records():
    stepper = ReactionDiffusion(FunctionSpace(M.uniform_interval(16), 1))
    assert isinstance(stepper, Stepper)
    data = _data(stepper)
    task, opt = _emulator(stepper)
    trainer = Trainer(task, opt, FixedK(3), data[:16], data[16:], batch_size=8, progress=False)  # no folder
    history = trainer.fit(2)
    # 2 batches of 8 samples per epoch, one capped solve each: 2 * 8 * 3 primal and adjoint iterations
    assert [(h["primal_iters"], h["adjoint_iters"]) for h in history] == [(48, 48), (48, 48)]
    assert trainer.meter.total().solves == 4 and trainer.k_converged[0] > 3


def test_a_nonfinite_training_solve_stops_the_run_naming_epoch_batch_solve_and_status():
    V = FunctionSpace(M.uniform_interval(16), 1)
    data = _data(ReactionDiffusion(V))
    task, opt = _emulator(ReactionDiffusion(V, scale=float("inf")))
    trainer = Trainer(task, opt, FixedK(3), data[:16], data[16:], batch_size=8, progress=False)
    with pytest.raises(TrainingError, match=r"^epoch 1, batch 1: solve 1 of 1 \(primal, cg\) ended NONFINITE: cg: NaN"):
        trainer.fit(1)


def test_a_status_nobody_read_is_still_caught_after_backward():
    V = FunctionSpace(M.uniform_interval(16), 1)
    data = _data(ReactionDiffusion(V))
    # c = -1e4 makes the matrix indefinite; the user's own solve ignores the status
    task, opt = _emulator(ReactionDiffusion(V, c=-1e4, own_solve=True))
    trainer = Trainer(task, opt, FixedK(3), data[:16], data[16:], batch_size=8, progress=False)
    with pytest.raises(TrainingError, match=r"^epoch 1, batch 1: solve 1 of 1 \(primal, cg\) ended INDEFINITE"):
        trainer.fit(1)


def test_capped_solves_never_stop_training():
    V = FunctionSpace(M.uniform_interval(16), 1)
    stepper = ReactionDiffusion(V)
    data = _data(stepper)
    task, opt = _emulator(stepper)
    Trainer(task, opt, FixedK(1), data[:16], data[16:], batch_size=8, progress=False).fit(1)  # every solve CAPPED


@pytest.mark.parametrize("kind", ["tuple", "dataset", "dataloader"])
def test_any_data_form_gives_the_same_training_as_a_tensor(kind):
    stepper = ReactionDiffusion(FunctionSpace(M.uniform_interval(12), 1))
    data = _data(stepper, n=16)

    class PairTask(EmulatorTask):  # batches as (u0, u1, u2) tuples
        def loss(self, batch, k):
            return super().loss(torch.stack(batch, 1), k)

    def run(train, batch_size, task_cls=EmulatorTask):
        task, opt = _emulator(stepper)
        task = task_cls(task.model, stepper)
        return Trainer(task, opt, FixedK(4), train, data[12:], batch_size=batch_size, progress=False,
                       seed=3).fit(2)

    reference = run(data[:12], 4)
    columns = tuple(data[:12, i] for i in range(3))
    if kind == "tuple":
        other = run(columns, 4, PairTask)
    elif kind == "dataset":
        other = run(torch.utils.data.TensorDataset(*columns), 4, PairTask)
    else:  # the loader's own order: compare the cost, which is order-free
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*columns), batch_size=4, shuffle=True)
        other = run(loader, None, PairTask)
        assert [h["primal_iters"] for h in other] == [h["primal_iters"] for h in reference]
        return
    assert [h["loss"] for h in other] == [h["loss"] for h in reference]


def test_resuming_another_configuration_is_refused_with_what_differs(tmp_path):
    stepper = ReactionDiffusion(FunctionSpace(M.uniform_interval(12), 1))
    data = _data(stepper, n=16)

    def trainer(width=16, lr=1e-3, data=data, settings=None):
        torch.manual_seed(0)
        model = FieldMLP(stepper.n_state, width=width, depth=1).double()
        return Trainer(EmulatorTask(model, stepper), torch.optim.Adam(model.parameters(), lr=lr), FixedK(2),
                       data[:12], data[12:], batch_size=4, checkpoint_dir=tmp_path, progress=False,
                       fingerprint=settings)

    trainer(settings={"lr": 0.002}).fit(1)
    assert trainer(settings={"lr": 0.002}).resumed_from == 1
    with pytest.raises(ResumeError, match=r"settings.lr: 0.002 -> 0.01.*--fresh"):
        trainer(settings={"lr": 0.01})
    with pytest.raises(ResumeError, match="parameters"):  # a bigger network: no state_dict crash
        trainer(width=32, settings={"lr": 0.002})
    with pytest.raises(ResumeError, match="optimizer"):
        trainer(lr=1e-2, settings={"lr": 0.002})
    changed = data.clone()
    changed[0, 0, 3] += 1e-9  # one value of the data
    with pytest.raises(ResumeError, match="data: changed"):
        trainer(data=changed, settings={"lr": 0.002})


def test_a_conductivity_field_is_recovered_from_sparse_observations_with_prdp():
    V = FunctionSpace(M.rectangle(h=0.25), 1)
    problem = PoissonProblem(V, {name: 0.0 for name in V.mesh.boundaries})
    centres = V.mesh.points[V.mesh.cells].mean(1)
    kappa_true = 1.0 + 0.5 * (centres[:, 0] > 0.5).double()  # two materials
    f = torch.ones(V.n_dofs, dtype=torch.float64)
    observed_dofs = torch.arange(0, V.n_dofs, 2)  # every other node
    with torch.no_grad():
        observations = problem.step(f, kappa=kappa_true)[observed_dofs].expand(2, -1).clone()
    model = ParameterModel(V.mesh.n_cells)  # log-conductivity per cell
    task = InverseTask(model, problem, parameter="kappa", input=f, transform=torch.exp, observed=observed_dofs)
    trainer = Trainer(task, torch.optim.Adam(model.parameters(), lr=0.05),
                      PRDPController(ema_window=2, error_window=1, plateau_threshold=0.95), observations,
                      observations[:1], batch_size=2, progress=False)
    trainer.fit(150)
    assert trainer.history[-1]["val_metric"] < 1e-3 * trainer.history[0]["val_metric"]
    ks = [h["k"] for h in trainer.history]
    assert ks[0] == 1 and max(ks) > 1
    # the mean conductivity on each side is recovered (the field itself is only observed at nodes)
    kappa = torch.exp(model.theta.detach())
    for side in (centres[:, 0] < 0.4, centres[:, 0] > 0.6):
        assert abs(float(kappa[side].mean() / kappa_true[side].mean()) - 1) < 0.15


def test_heat_step_with_per_call_parameters_equals_a_stepper_built_with_them():
    V = FunctionSpace(M.rectangle(h=0.3), 1)
    walls = {name: 0.0 for name in V.mesh.boundaries}
    nu = torch.linspace(0.5, 2.0, V.mesh.n_cells, dtype=torch.float64)
    u = random_fields(V.dof_points, 2, seed=1)
    u[:, V.boundary_dofs()] = 0.0
    base = HeatStepper(V, 1.0, 0.01, dirichlet=walls)
    torch.testing.assert_close(base.step(u, nu=nu), HeatStepper(V, nu, 0.01, dirichlet=walls).step(u))
    batched = base.step(u, nu=torch.stack([nu, 2 * nu]))
    torch.testing.assert_close(batched[1], base.step(u[1], nu=2 * nu))
    hot = {next(iter(walls)): 1.0}
    torch.testing.assert_close(base.step(u, dirichlet=hot), HeatStepper(V, 1.0, 0.01, dirichlet={**walls, **hot}).step(u))
    f = torch.ones(V.n_dofs, dtype=torch.float64)
    assert float((base.step(u, source=f) - base.step(u)).min()) >= -1e-12  # a heat source warms
    nu_var = nu[:5].clone().requires_grad_(True)

    def out(n):
        return base.step(u[0], nu=torch.cat([n, nu[5:]])).square().sum()

    assert torch.autograd.gradcheck(out, (nu_var,))
    with pytest.raises(ValueError, match="was not built with"):
        base.step(u, dirichlet={"nowhere": 1.0})
