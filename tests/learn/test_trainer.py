"""End-to-end PRDP training on a gmsh mesh: the savings report adds up, a killed and
resumed run ends bit-for-bit where the uninterrupted one ends, data is cached."""

import torch

import fem_prdp.mesh as M
from fem_prdp.fem import FunctionSpace
from fem_prdp.learn import EmulatorTask, FieldMLP, Trainer, cached, random_fields, reference_trajectories
from fem_prdp.physics import HeatStepper
from fem_prdp.prdp import Converged, PRDPController


def _setup(tmp_path, controller, seed=0):
    V = FunctionSpace(M.disk(h=0.35), 1)
    stepper = HeatStepper(V, nu=0.05, dt=0.05, dirichlet={"boundary": 0.0})

    def build():
        u0 = random_fields(V.dof_points, 48, seed=3)
        u0[:, V.boundary_dofs("boundary")] = 0.0
        return reference_trajectories(stepper.step, u0, 2)

    data = cached(tmp_path / "cache", {"case": "heat-disk", "n": 48, "seed": 3}, build)
    torch.manual_seed(seed)
    model = FieldMLP(V.n_dofs, width=32, depth=2).double()
    task = EmulatorTask(model, stepper)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    return task, opt, data


def test_end_to_end_prdp_run_reports_consistent_costs(tmp_path):
    controller = PRDPController(ema_window=2, error_window=1, plateau_threshold=0.99)
    task, opt, data = _setup(tmp_path, controller)
    trainer = Trainer(task, opt, controller, data[:40], data[40:], batch_size=8,
                      checkpoint_dir=tmp_path / "run", progress=False)
    history = trainer.fit(6)
    assert len(history) == 6 and history[0]["k"] == 1
    report = trainer.report()
    assert report["primal_iters"] == sum(h["primal_iters"] for h in history)
    assert report["adjoint_iters"] == sum(h["adjoint_iters"] for h in history)
    for h in history:  # 5 batches of 8 samples, each primal and adjoint solve capped at K
        assert h["primal_iters"] <= 5 * 8 * h["k"] and h["adjoint_iters"] <= 5 * 8 * h["k"]
    assert history[-1]["val_metric"] < history[0]["val_metric"]
    s = report["savings"]
    assert s["iterations"] == sum(report["k_schedule"]) and s["epochs"] == 6
    assert abs(s["total_savings"] - (s["incomplete_convergence_savings"] + s["progressive_refinement_savings"])) < 1e-12
    assert (tmp_path / "run" / "metrics.json").exists()


def test_killed_and_resumed_run_matches_uninterrupted_run_bit_for_bit(tmp_path):
    def run(folder, stops):
        for stop in stops:  # each stop: a fresh process-like restart from the checkpoint
            controller = PRDPController(ema_window=2, error_window=1, plateau_threshold=0.99)
            task, opt, data = _setup(tmp_path, controller, seed=123)
            scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.9)  # per mini-batch
            trainer = Trainer(task, opt, controller, data[:40], data[40:], batch_size=8, scheduler=scheduler,
                              checkpoint_dir=folder, progress=False, seed=7)
            trainer.fit(stop)
        return trainer

    straight = run(tmp_path / "a", [5])
    resumed = run(tmp_path / "b", [2, 3, 5])
    for p, q in zip(straight.task.model.parameters(), resumed.task.model.parameters(), strict=True):
        assert torch.equal(p, q)
    keys = ("epoch", "k", "loss", "val_metric", "primal_iters", "adjoint_iters")
    assert [{k: h[k] for k in keys} for h in straight.history] == [{k: h[k] for k in keys} for h in resumed.history]
    assert straight.controller.state_dict() == resumed.controller.state_dict()
    assert straight.scheduler.state_dict() == resumed.scheduler.state_dict()
    assert straight.optimizer.param_groups[0]["lr"] < 1e-3  # the schedule really ran


def test_converged_baseline_runs_and_data_cache_is_reused(tmp_path):
    task, opt, data = _setup(tmp_path, Converged())
    again = _setup(tmp_path, Converged())[2]
    assert torch.equal(data, again) and len(list((tmp_path / "cache").glob("*.pt"))) == 1
    trainer = Trainer(task, opt, Converged(), data[:16], data[16:24], batch_size=8,
                      checkpoint_dir=tmp_path / "base", progress=False)
    history = trainer.fit(2)
    assert all(h["k"] is None for h in history) and "savings" not in trainer.report()


def test_costly_checkpoints_are_spaced_by_their_overhead_and_resumes_stay_exact(tmp_path, monkeypatch):
    """A checkpoint that takes long to write (here: every one counts as large, and each
    write sleeps 0.2 s) is written after the first epoch, then only once the training since
    covers 9x its write (10% overhead), and after the last; a run killed in between resumes
    from the last one and ends bit-for-bit as the uninterrupted run."""
    import time

    import fem_prdp.learn.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "_SMALL_CHECKPOINT", 0)
    save = trainer_module.torch.save

    def slow_save(obj, path):
        time.sleep(0.2)
        save(obj, path)

    monkeypatch.setattr(trainer_module.torch, "save", slow_save)

    def make(folder, seed=123):
        controller = PRDPController(ema_window=2, error_window=1, plateau_threshold=0.99)
        task, opt, data = _setup(tmp_path, controller, seed=seed)
        return Trainer(task, opt, controller, data[:40], data[40:], batch_size=8, checkpoint_dir=folder,
                       progress=False, seed=7)

    straight = make(tmp_path / "a")
    saved = []
    for epoch in range(1, 6):  # one epoch at a time, as the case runner interleaves runs
        straight.fit(epoch, checkpoint_last=False)
        saved.append(straight.saved_epoch)
    assert sum(h["epoch_s"] for h in straight.history) < 1.8  # the epochs are short next to 9 x 0.2 s
    assert saved == [1, 1, 1, 1, 1]
    straight.checkpoint()  # the runner's final write
    assert straight.saved_epoch == 5
    straight.checkpoint()  # nothing newer: no write
    assert straight.saved_epoch == 5

    killed = make(tmp_path / "b")
    killed.fit(4, checkpoint_last=False)  # then "killed": only epoch 1 is on disk
    assert killed.saved_epoch == 1
    resumed = make(tmp_path / "b", seed=999)  # the model's initialisation is overwritten by the checkpoint
    assert resumed.epoch == 1
    resumed.fit(5)
    assert resumed.saved_epoch == 5  # fit's last epoch is always written
    for p, q in zip(straight.task.model.parameters(), resumed.task.model.parameters(), strict=True):
        assert torch.equal(p, q)
    keys = ("epoch", "k", "loss", "val_metric", "primal_iters", "adjoint_iters")
    assert [{k: h[k] for k in keys} for h in straight.history] == [{k: h[k] for k in keys} for h in resumed.history]


def test_checkpoint_overhead_out_of_range_is_refused(tmp_path):
    import pytest

    task, opt, data = _setup(tmp_path, Converged())
    for bad in (0, 1, -0.1, 1.5):
        with pytest.raises(ValueError, match="checkpoint_overhead"):
            Trainer(task, opt, Converged(), data[:16], data[16:24], batch_size=8, checkpoint_overhead=bad)
