"""The `fem-prdp` command line: mesh commands and clean one-line errors."""

import json
import subprocess
import sys

import pytest
import torch

from fem_prdp.cli import main


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "fem_prdp.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_mesh_generate_info_convert_plot(tmp_path, capsys):
    msh = tmp_path / "cav.msh"
    assert main(["mesh", "generate", "cavity", "--h", "0.2", "-o", str(msh)]) == 0
    capsys.readouterr()
    assert main(["mesh", "info", str(msh), "--json"]) == 0
    out = capsys.readouterr().out
    info = json.loads(out[out.index("{") :])
    assert info["boundaries"].keys() == {"lid", "walls"}
    vtu = tmp_path / "cav.vtu"
    assert main(["mesh", "convert", str(msh), str(vtu)]) == 0 and vtu.exists()
    png = tmp_path / "cav.png"
    assert main(["mesh", "plot", str(vtu), "-o", str(png)]) == 0 and png.stat().st_size > 1000


def test_mesh_info_prints_boundaries_and_quality(tmp_path, capsys):
    msh = tmp_path / "u.msh"
    assert (
        main(["mesh", "generate", "uniform-rectangle", "--h", "0.25", "-o", str(msh), "--msh-version", "2.2"])
        == 0
    )
    capsys.readouterr()
    assert main(["mesh", "info", str(msh)]) == 0
    out = capsys.readouterr().out
    assert "25 nodes, 32 cells" in out and "left" in out and "45.0 .. 90.0 deg" in out


@pytest.mark.parametrize(
    "args,needle",
    [
        (["mesh", "generate", "donut", "-o", "x.msh"], "unknown mesh kind 'donut'; known kinds"),
        (["mesh", "info", "missing.msh"], "no such file"),
        (["mesh", "generate", "cavity", "-o", "x.stl"], "unsupported file type .stl"),
        (["run", "heat-1d", "--epochs", "0"], "--epochs 0: train at least one epoch"),
        (["run", "heat-1d", "--epochs", "-3"], "--epochs -3: train at least one epoch"),
        (["run", "heat-1d", "--seeds", "0"], "--seeds 0: run at least one seed"),
        (["run", "heat-2d", "--quick", "--mesh", "meshs/plate.msh"], "--mesh meshs/plate.msh: no such file"),
        (["run", "heat-2d", "--quick", "--mesh", "plate.msh", "--h", "0.1"], "--h 0.1: plate.msh is a mesh file"),
        (["mesh", "info", "curve_only.msh"], "physical groups for its boundary but none for the domain"),
    ],
)
def test_bad_input_exits_nonzero_with_one_clear_line(tmp_path, args, needle):
    import fem_prdp.mesh as M

    M.write_mesh(M.uniform_rectangle(3), tmp_path / "plate.msh")
    _curve_only_msh(tmp_path / "curve_only.msh")
    proc = subprocess.run(
        [sys.executable, "-m", "fem_prdp.cli", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2
    assert needle in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def _curve_only_msh(path):
    """A .msh whose only physical group is a curve: gmsh saves the lines, not the triangles."""
    from fem_prdp.mesh.gmsh_session import gmsh_session

    with gmsh_session() as gmsh:
        gmsh.model.add("curve_only")
        gmsh.model.occ.addRectangle(0, 0, 0, 1, 1)
        gmsh.model.occ.synchronize()
        gmsh.model.addPhysicalGroup(1, [t for _, t in gmsh.model.getEntities(1)], name="walls")
        gmsh.model.mesh.generate(2)
        gmsh.write(str(path))


def test_help_lists_every_command_and_case_without_importing_torch():
    from fem_prdp._catalog import CASES as NAMES
    from fem_prdp._catalog import MESH_KINDS
    from fem_prdp.cases import CASES
    from fem_prdp.mesh import GENERATORS

    assert list(NAMES) == list(CASES) and list(MESH_KINDS) == list(GENERATORS)
    code = ("import sys\nfrom fem_prdp.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'LIGHT')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip().endswith("LIGHT")  # lazy imports: --help starts at Python speed
    for command in ("run", "report", "mesh", "verify", "bench", "demo"):
        assert command in proc.stdout
    for case in CASES:
        assert f"  {case} " in proc.stdout
    assert "main job: fem-prdp run heat-2d" in proc.stdout


def test_ctrl_c_during_training_says_where_and_how_to_resume(tmp_path, capsys, monkeypatch):
    from fem_prdp.learn import Trainer

    fit = Trainer.fit

    def interrupted_fit(self, epochs, **kwargs):
        if epochs == 3:
            raise KeyboardInterrupt
        return fit(self, epochs, **kwargs)

    monkeypatch.setattr(Trainer, "fit", interrupted_fit)
    args = ["run", "heat-1d", "--quick", "--epochs", "4", "--output", str(tmp_path), "--no-progress"]
    assert main(args) == 130
    assert "interrupted at epoch 2 of 4; run the same command again to resume" in capsys.readouterr().err
    monkeypatch.setattr(Trainer, "fit", fit)
    assert main(args) == 0
    assert "resumed at epoch 2 of 4" in capsys.readouterr().out


def test_bad_file_is_one_line_not_a_traceback(tmp_path):
    bad = tmp_path / "bad.msh"
    bad.write_text("garbage")
    proc = run("mesh", "info", str(bad))
    assert proc.returncode == 2 and "not a readable .msh mesh file" in proc.stderr
    assert proc.stderr.startswith("fem-prdp: error:") and len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_verify_solvers_passes_and_writes_json(tmp_path, capsys):
    out = tmp_path / "verify.json"
    assert main(["verify", "solvers", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["ok"] and len(data["solves"]) >= 15
    assert "all checks passed" in capsys.readouterr().out


def test_bench_solvers_quick_writes_consistent_json(tmp_path):
    out = tmp_path / "bench.json"
    assert main(["bench", "solvers", "--quick", "--repeats", "1", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    for m in data["matrices"]:
        assert m["speedup_vs_scipy"] == pytest.approx(
            m["scipy_jacobi_pcg_s_per_iter"] / m["jacobi_pcg_s_per_iter"]
        )
        assert m["floor_s_per_iter"] > 0 and set(m["multi_rhs"]) == {"1", "4", "16"}
        assert 1 / 16 < m["rhs16_floor_per_rhs_vs_1"] < 1  # the matrix read is shared, vectors are not
    assert data["fused_native_kernels"] is True
    implicit = [g["saved_bytes"] for g in data["gradients"] if g["grad"] == "implicit"]
    unrolled = [g["saved_bytes"] for g in data["gradients"] if g["grad"] == "unrolled"]
    assert len(set(implicit)) == 1  # memory flat in K
    assert unrolled[-1] > unrolled[0]  # grows with K
    heat = {r["preconditioner"]: r for r in data["steady_heat"]}
    assert all(r["status"] == "CONVERGED" for r in heat.values())
    # the fused Jacobi adjoint starts from zero; the AMG ones from the forward's CG directions
    assert heat["jacobi"]["adjoint_iterations"] == heat["jacobi"]["iterations"]
    assert all(heat[k]["adjoint_iterations"] < heat[k]["iterations"] for k in ("amg-jacobi", "amg-chebyshev"))
    # Chebyshev-smoothed AMG needs no more CG iterations than pyamg's own (Gauss-Seidel) cycle
    assert heat["amg-chebyshev"]["iterations"] <= heat["amg-jacobi"]["iterations"] < heat["jacobi"]["iterations"]
    assert heat["amg-chebyshev"]["iterations"] <= heat["amg-chebyshev"]["pyamg_sa_iterations"] + 2


def test_bench_peers_quick_agrees_with_torch_fem_and_scikit_fem(tmp_path, monkeypatch, capsys):
    out = tmp_path / "peers.json"
    assert main(["bench", "peers", "--quick", "--repeats", "1", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert {r["preconditioner"] for r in data["solve"]} == {"jacobi", "amg"}
    for r in data["solve"]:  # same matrix, same tolerance: same solution and gradients
        assert max(r["agreement_x"], r["agreement_grad_values"], r["agreement_grad_rhs"]) < 1e-8
        assert r["forward_speedup"] > 0 and r["backward_speedup"] > 0
        assert r["rounds"] == 5  # --repeats 1, times 5 at 2.2k nodes
    assert all(r["agreement"] < 1e-12 for r in data["assembly"])
    jacobi = next(r for r in data["solve"] if r["preconditioner"] == "jacobi")
    assert jacobi["floor_s"] > 0 and jacobi["torch_fem_forward_over_floor"] > 0
    amg = next(r for r in data["solve"] if r["preconditioner"] == "amg")
    # our backward makes at least the products the floor counts (timing noise aside)
    assert amg["products_floor_s"] > 0 and amg["backward_over_products"] > 0.5
    assert 0 < amg["adjoint_iterations"] < amg["iterations"]  # started from the forward's directions
    # torch-fem's own cycle on the same system: a hierarchy like ours, as many iterations give or take
    assert 0 < amg["torch_fem_iterations"] <= amg["iterations"] + 3
    memory = data["memory"]  # one fresh process per contender (Linux)
    if sys.platform.startswith("linux"):
        assert {r["preconditioner"] for r in memory} == {"jacobi", "amg"}
        assert all(r["peak_bytes"] > 0 and r["torch_fem_peak_bytes"] > 0 for r in memory)
    for name in ("torchfem", "torchfem.sparse"):  # as if the extra were not installed
        monkeypatch.setitem(sys.modules, name, None)
    assert main(["bench", "peers", "--quick"]) == 2
    assert 'peers needs torch-fem, which is not installed: pip install "fem_prdp[bench]" (or pip install torch-fem)' in \
        capsys.readouterr().err


def test_bench_training_quick_splits_each_step(tmp_path):
    out = tmp_path / "training.json"
    assert main(["bench", "training", "--quick", "--repeats", "1", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert {r["setup"] for r in rows} == {"float64, Adam", "float32, fused Adam"}
    assert len({r["surrogate"] for r in rows}) == 2  # the MLP and the MeshGraphNet
    for r in rows:
        assert 0 < r["solve_s"] < r["step_s"] and 0 < r["network_share"] < 1


@pytest.mark.slow
def test_verify_physics_passes(tmp_path, capsys):
    out = tmp_path / "physics.json"
    assert main(["verify", "physics", "--quick", "--json", str(out)]) == 0  # Re = 1000: test_navier_stokes
    data = json.loads(out.read_text())
    assert data["ok"] and any("Ghia" in r["check"] for r in data["rows"])
    assert sum("DFG 2D-1" in r["check"] for r in data["rows"]) == 3  # drag, lift, pressure difference


def test_bench_physics_and_assembly_quick(tmp_path):
    for what in ("physics", "assembly"):
        out = tmp_path / f"{what}.json"
        assert main(["bench", what, "--quick", "--repeats", "1", "--json", str(out)]) == 0
        rows = json.loads(out.read_text())["rows"]
        assert rows and all(r.get("forward_s", r.get("reassembly_s", 0)) > 0 for r in rows)
        if what == "physics":
            assert all(0 < r["k_switch_cost_ratio"] < float("inf") for r in rows)
            for case in ("DFG 2D channel Re 20", "lid-driven cavity Re 100"):
                oseen = {r["preconditioner"]: r for r in json.loads(out.read_text())["oseen"] if r["case"] == case}
                assert oseen["pcd"]["status"] == "CONVERGED"
                assert oseen["pcd"]["gmres_iterations"] < oseen["cahouet-chabard"]["gmres_iterations"]


@pytest.mark.parametrize("device,message", [
    ("gpu7", "--device gpu7: not a device name; use cpu or cuda[:i]"),
    ("cuda", "--device cuda: this machine has no CUDA device; use --device cpu"),
])
def test_bench_device_errors_are_one_line(capsys, device, message):
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["bench", "solvers", "--quick", "--device", device]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("case", ["heat-1d", "heat-2d"])
def test_run_heat_quick_prints_savings_and_writes_results(tmp_path, capsys, case):
    assert main(["run", case, "--quick", "--output", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"{case}: Mesh" in out and "solver iterations" in out and "paper definition" in out
    folder = tmp_path / case / "seed-0"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["prdp"]["iterations"] < summary["converged"]["iterations"]
    d = summary["paper_definition"]
    assert d["iterations"] == sum(summary["prdp"]["k_schedule"])
    for name in ("curves.png", "fields.vtu", "prdp/metrics.json", "converged/checkpoint.pt"):
        assert (folder / name).exists()
    # Running again resumes from the checkpoints instead of training anew.
    assert main(["run", case, "--quick", "--output", str(tmp_path), "--no-progress"]) == 0
    again = json.loads((folder / "summary.json").read_text())
    assert again["prdp"]["k_schedule"] == summary["prdp"]["k_schedule"]


def test_runs_alternate_epochs_and_match_runs_one_after_another(tmp_path, monkeypatch):
    """Interleaving the runs (for fair wall times) must not change what they compute."""
    from fem_prdp.cases import runner
    from fem_prdp.learn import Trainer

    assert main(["run", "heat-1d", "--quick", "--fixed-k", "2", "--output", str(tmp_path / "a"), "--no-progress"]) == 0
    calls = []
    fit = Trainer.fit

    def sequential(trainers, epochs, progress):
        for trainer in trainers.values():
            fit(trainer, epochs)

    def logged_fit(self, epochs, **kwargs):
        calls.append((self.dir.name, epochs))
        return fit(self, epochs, **kwargs)

    monkeypatch.setattr(Trainer, "fit", logged_fit)
    assert main(["run", "heat-1d", "--quick", "--fixed-k", "2", "--output", str(tmp_path / "b"), "--no-progress"]) == 0
    assert calls[:6] == [("prdp", 1), ("converged", 1), ("fixed-k2", 1), ("prdp", 2), ("converged", 2), ("fixed-k2", 2)]
    monkeypatch.setattr(runner, "_train_interleaved", sequential)
    assert main(["run", "heat-1d", "--quick", "--fixed-k", "2", "--output", str(tmp_path / "c"), "--no-progress"]) == 0
    a, c = (json.loads((tmp_path / x / "heat-1d" / "seed-0" / "summary.json").read_text()) for x in "ac")
    for run in ("prdp", "converged"):
        assert a[run]["k_schedule"] == c[run]["k_schedule"]
        assert a[run]["iterations"] == c[run]["iterations"]
        assert a[run]["final_val_metric"] == c[run]["final_val_metric"]


@pytest.mark.parametrize("case,k", [("poisson-inverse-2d", 3), ("burgers", 3), ("navier-stokes", 3),
                                    ("navier-stokes-cylinder", 8), ("heat-2d-meshes", 3)])
def test_run_other_cases_quick(tmp_path, capsys, case, k):
    args = ["run", case, "--quick", "--epochs", "6", "--fixed-k", str(k), "--output", str(tmp_path), "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"fixed-k{k}" in out and "paper definition" in out
    folder = tmp_path / case / "seed-0"
    s = json.loads((folder / "summary.json").read_text())
    assert s["prdp"]["iterations"] < s["converged"]["iterations"]
    assert s["fixed_k"][f"fixed-k{k}"]["k_schedule"] == [k] * 6
    for name in ("curves.png", "fields.vtu", f"fixed-k{k}/metrics.json"):
        assert (folder / name).exists()
    if case.startswith("poisson"):
        assert "parameter rel. error" in out and 0 <= s["converged"]["theta_rel_error"] < 1


def test_run_rejects_bad_case_profile_and_device(capsys):
    assert main(["run", "heat-9d"]) == 2
    assert "known cases: poisson-inverse" in capsys.readouterr().err
    assert main(["run", "burgers", "--profile", "paper"]) == 2
    assert "no paper profile" in capsys.readouterr().err
    assert main(["run", "navier-stokes-cylinder", "--mesh", "rectangle", "--quick", "--output", "/nonexistent"]) == 2
    assert "lacks cylinder, inlet, outlet, walls (use --mesh channel-cylinder)" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["run", "heat-2d", "--device", "cuda"]) == 2
        assert "no CUDA device" in capsys.readouterr().err


def test_paper_profile_is_the_authors_heat_2d_setting():
    from fem_prdp.cases import case_config

    cfg = case_config("heat-2d", "paper")
    assert (cfg.mesh, cfg.lumped, cfg.solver, cfg.grad) == ("uniform-rectangle", True, "richardson", "unrolled")
    assert (cfg.width, cfg.depth, cfg.n_train, cfg.n_val, cfg.epochs, cfg.batch_size) == (3000, 3, 200, 5, 70, 25)
    assert (cfg.lr, cfg.lr_decay, cfg.lr_decay_steps, cfg.plateau_threshold) == (1e-3, 0.9, 100, 0.9)
    assert cfg.nu * cfg.dt == pytest.approx(1e-3) and round(1 / cfg.h) - 1 == 30  # 30 x 30 interior nodes


def test_data_cache_key_ignores_training_only_settings():
    """Re-running a case with other epochs, widths or K schedules reuses its data; other
    physics or sample counts do not."""
    import fem_prdp.mesh as M
    from fem_prdp.cases import case_config
    from fem_prdp.cases.runner import data_key

    mesh = M.uniform_rectangle(4)
    base = case_config("navier-stokes-cylinder", "quick")
    same = case_config("navier-stokes-cylinder", "quick", epochs=99, width=7, k_step=3, lr=0.5)
    assert data_key(base, mesh) == data_key(same, mesh)
    for change in ({"n_train": 5}, {"reference_refinement": 3.0}, {"seed": 1}):
        assert data_key(base, mesh) != data_key(case_config("navier-stokes-cylinder", "quick", **change), mesh)


def test_data_cache_is_keyed_on_mesh_content_not_on_the_path(tmp_path):
    """Another mesh written to the same file with as many nodes gets its own data."""
    import fem_prdp.mesh as M
    from fem_prdp.cases import case_config
    from fem_prdp.cases.runner import data_key
    from fem_prdp.learn import cached

    path = tmp_path / "plate.msh"
    cfg = case_config("heat-2d", "quick", mesh=str(path))
    keys, data = [], []
    for diagonal in ("right", "left"):  # same nodes, other cells
        M.write_mesh(M.uniform_rectangle(4, diagonal=diagonal), path)
        mesh = M.read_mesh(path)
        keys.append(data_key(cfg, mesh))
        data.append(cached(tmp_path / "cache", keys[-1], lambda mesh=mesh: mesh.cells.double()))
    assert keys[0] != keys[1] and not torch.equal(data[0], data[1])
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 2


def test_rerun_resumes_or_reports_complete_and_refuses_other_settings(tmp_path, capsys):
    args = ["run", "heat-1d", "--quick", "--epochs", "2", "--output", str(tmp_path), "--no-progress"]
    assert main(args) == 0
    assert main(args) == 0
    assert "already complete: stored results (use --fresh to re-run)" in capsys.readouterr().out
    assert main([*args[:4], "3", *args[5:]]) == 0
    assert "resumed at epoch 2 of 3" in capsys.readouterr().out
    assert main([*args, "--set", "lr=0.01"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "settings.lr: 0.001 -> 0.01" in err and "--fresh" in err
    assert main([*args, "--set", "lr=0.01", "--fresh"]) == 0


def test_report_combines_seeds_with_mean_and_spread(tmp_path, capsys):
    assert main(["run", "heat-1d", "--quick", "--seeds", "2", "--output", str(tmp_path), "--no-progress"]) == 0
    capsys.readouterr()
    out_json = tmp_path / "report.json"
    assert main(["report", str(tmp_path / "heat-1d"), "--json", str(out_json)]) == 0
    table = json.loads(out_json.read_text())["heat-1d"]
    seeds = [json.loads((tmp_path / "heat-1d" / f"seed-{s}" / "summary.json").read_text()) for s in (0, 1)]
    savings = [s["paper_definition"]["total_savings"] for s in seeds]
    assert table["savings, paper definition"]["n"] == 2
    assert table["savings, paper definition"]["mean"] == pytest.approx(sum(savings) / 2)
    printed = capsys.readouterr().out
    assert "heat-1d (2 runs)" in printed and "against the converged runs' range" in printed
    assert "accuracy" in table and table["accuracy"]["runs"] == 2
    assert main(["report", str(tmp_path / "nothing-here")]) == 2


def _summary(prdp: float, converged: float) -> dict:
    return {"case": "c", "iteration_savings_vs_converged_run": 0.8, "wall_savings_vs_converged_run": 0.1,
            "paper_definition": {"total_savings": 0.8, "incomplete_convergence_savings": 0.6,
                                 "progressive_refinement_savings": 0.2},
            "prdp": {"final_val_metric": prdp, "k_schedule": [1, 2, 3]},
            "converged": {"final_val_metric": converged}, "k_converged": 20}


def test_report_pairs_seeds_and_judges_accuracy_against_the_converged_spread():
    from fem_prdp.cases.report import accuracy_verdict, combine

    # converged 1, 2, 3 (mean 2, std 1); PRDP 2, 1, 4.5 (mean 2.5)
    runs = [_summary(2.0, 1.0), _summary(1.0, 2.0), _summary(4.5, 3.0)]
    ratio = combine(runs)["final val nMSE ratio PRDP / converged"]
    assert ratio["mean"] == pytest.approx((2.0 + 0.5 + 1.5) / 3)
    assert ratio["geomean"] == pytest.approx((2.0 * 0.5 * 1.5) ** (1 / 3))
    assert (ratio["min"], ratio["max"]) == (0.5, 2.0)
    verdict = accuracy_verdict(runs)
    assert verdict["inside_converged_range"] and verdict["inside_converged_mean_pm_std"]
    assert verdict["prdp_at_or_below_converged"] == 1
    # PRDP mean 3.2: above the range (max 3) and beyond mean + std (2 + 1)
    worse = accuracy_verdict([_summary(3.2, 1.0), _summary(3.2, 2.0), _summary(3.2, 3.0)])
    assert not worse["inside_converged_range"] and not worse["inside_converged_mean_pm_std"]
    assert worse["prdp_at_or_below_converged"] == 0 and worse["position"] == "above"
    better = accuracy_verdict([_summary(0.5, 1.0), _summary(0.5, 2.0)])  # lower error reads as good
    assert better["position"] == "below" and verdict["position"] == "inside"


def test_headline_puts_accuracy_first_and_never_a_negative_saving():
    from fem_prdp.cases.report import headline

    worse = headline(_summary(1.9, 1.0) | {"iteration_savings_vs_converged_run": 0.96,
                                          "wall_savings_vs_converged_run": -0.54})
    assert worse.startswith("PRDP ended LESS ACCURATE than the converged run (final validation error 1.900e+00 "
                            "vs 1.000e+00, 1.90x")
    assert worse.index("LESS ACCURATE") < worse.index("96% fewer") and "54% more wall time" in worse
    assert "-" not in worse.split("saved:")[1]
    good = headline(_summary(0.9, 1.0))
    assert good.startswith("PRDP vs converged: as accurate or better (final validation error 9.000e-01 vs "
                           "1.000e+00, 0.90x); 80% fewer solver iterations, 10% less wall time")


@pytest.mark.parametrize("case", ["burgers-2d", "navier-stokes"])
def test_gnn_surrogate_takes_vector_states(tmp_path, capsys, case):
    """Burgers' two components on P1 nodes, Navier-Stokes' velocity on the P2 dofs: the GNN
    reads them as channels per node and trains like the MLP."""
    assert main(["run", case, "--quick", "--model", "gnn", "--epochs", "2", "--output", str(tmp_path),
                 "--no-progress"]) == 0
    s = json.loads((tmp_path / case / "seed-0" / "summary.json").read_text())
    assert s["config"]["model"] == "gnn" and len(s["prdp"]["k_schedule"]) == 2
    assert all(0 < s[run]["final_val_metric"] < float("inf") for run in ("prdp", "converged"))


def test_run_set_overrides_any_setting_with_its_type(tmp_path, capsys):
    assert main(["run", "heat-1d", "--quick", "--epochs", "2", "--set", "k_min=3", "--set", "k-step=2",
                 "--set", "residual=false", "--set", "lr=2e-3", "--output", str(tmp_path), "--no-progress"]) == 0
    s = json.loads((tmp_path / "heat-1d" / "seed-0" / "summary.json").read_text())
    assert (s["config"]["k_min"], s["config"]["k_step"], s["config"]["residual"], s["config"]["lr"]) == (3, 2, False, 2e-3)
    assert s["prdp"]["k_schedule"][0] == 3
    capsys.readouterr()
    for bad, message in (("kmin=3", "no setting 'kmin'; settings: batch_size"), ("k_min=x", "not a valid int"),
                         ("k_min", "write KEY=VALUE"), ("residual=maybe", "not a valid bool")):
        assert main(["run", "heat-1d", "--quick", "--set", bad, "--output", str(tmp_path)]) == 2
        assert message in capsys.readouterr().err


def test_console_stays_quiet_on_generate_plot_and_bad_files(tmp_path):
    """No stray gmsh/meshio blank lines, no VTK X-server warning, our message first and alone."""
    gen = run("mesh", "generate", "rectangle", "--h", "0.3", "-o", str(tmp_path / "r.msh"))
    assert gen.returncode == 0 and gen.stdout.startswith("wrote ") and gen.stderr == ""
    assert len(gen.stdout.splitlines()) == 1
    plot = run("mesh", "plot", str(tmp_path / "r.msh"), "-o", str(tmp_path / "r.png"))
    assert plot.returncode == 0 and plot.stderr == "", plot.stderr
    (tmp_path / "bad.msh").write_text("garbage")
    bad = run("mesh", "info", str(tmp_path / "bad.msh"))
    assert bad.stdout == "" and bad.stderr.startswith("fem-prdp: error:") and len(bad.stderr.splitlines()) == 1
