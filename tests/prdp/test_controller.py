"""The PRDP controller on synthetic metric curves, against a literal transcription of the
rule in ../shared/PRDP.md; the comparison schedules; state round trips; savings."""

import json
import math

import pytest

from fem_prdp.prdp import (
    Converged,
    CostMeter,
    FixedK,
    PRDPController,
    ToleranceSchedule,
    controller_from_state,
    savings_report,
)


def reference_schedule(metrics, k_min=1, k_step=1, ema_window=6, error_window=3, plateau=0.98,
                       checkpoint_threshold=0.9, checkpoint=100.0):
    """The rule written out step by step, independently of the implementation."""
    alpha = 2 / (ema_window + 1)
    ema, ks, k = [], [], k_min
    for i, m in enumerate(metrics):
        ema.append(m if i == 0 else alpha * m + (1 - alpha) * ema[-1])
        if len(ema) >= error_window + 1 and ema[-1] / ema[-error_window] > plateau:
            if ema[-1] / checkpoint < checkpoint_threshold or ema[-1] / checkpoint > 1:
                k += k_step
                checkpoint = ema[-1]
        ks.append(k)
    return ks


def staircase(epochs=80):
    """A validation metric that falls, plateaus, falls again when K grows (like training
    through refined physics), then stops improving."""
    metrics, k = [], 1
    for e in range(epochs):
        floor = 0.05 + 0.5 / (1 + min(k, 6))
        metrics.append(floor + 0.6 * math.exp(-e / 4) + 0.002 * math.sin(1.7 * e))
        if e and e % 9 == 0:
            k += 1
    return metrics


@pytest.mark.parametrize("kwargs", [{}, {"plateau_threshold": 0.9}, {"ema_window": 8},
                                    {"k_min": 4, "k_step": 2, "initial_checkpoint": 1.0}])
def test_controller_reproduces_the_reference_schedule(kwargs):
    metrics = staircase()
    c = PRDPController(**kwargs)
    ks = [c.update(m) for m in metrics]
    ref_kwargs = {"k_min": kwargs.get("k_min", 1), "k_step": kwargs.get("k_step", 1),
                  "ema_window": kwargs.get("ema_window", 6), "plateau": kwargs.get("plateau_threshold", 0.98),
                  "checkpoint": kwargs.get("initial_checkpoint", 100.0)}
    assert ks == reference_schedule(metrics, **ref_kwargs)
    assert max(ks) > ks[0]  # it refined
    assert {e.decision for e in c.events} >= {"warmup", "keep", "refine"}


def test_refinement_stops_when_it_no_longer_helps_and_resumes_on_new_progress():
    c = PRDPController()
    flat = [1.0] * 30
    ks = [c.update(m) for m in flat]
    # First plateau: 1.0 / 100 < 0.9 -> refine once; then no progress -> K_max reached.
    assert ks[-1] == 2 and c.events[-1].decision == "stop"
    for m in [0.5] * 15:  # a later plateau well below the checkpoint refines again (soft stop)
        c.update(m)
    assert c.k == 3


def test_worse_metric_on_a_plateau_refines():
    c = PRDPController(initial_checkpoint=1.0)
    for m in [2.0] * 10:
        c.update(m)
    assert c.k >= 2 and any("got worse" in e.reason for e in c.events)


def test_state_round_trip_continues_identically():
    metrics = staircase(60)
    a = PRDPController()
    for m in metrics[:25]:
        a.update(m)
    state = json.loads(json.dumps(a.state_dict()))  # checkpoints are JSON-serialisable
    b = controller_from_state(state)
    assert [a.update(m) for m in metrics[25:]] == [b.update(m) for m in metrics[25:]]


def test_comparison_schedules():
    assert [FixedK(5).update(m) for m in (3.0, 2.0)] == [5, 5]
    assert Converged().update(1.0) is None
    t = ToleranceSchedule(rtol_start=1e-1, factor=0.1, rtol_min=1e-4)
    rtols = []
    for m in range(6):
        rtols.append(t.rtol)
        t.update(m)
    assert rtols == pytest.approx([1e-1, 1e-2, 1e-3, 1e-4, 1e-4, 1e-4])
    for obj in (FixedK(3), Converged(), t):
        assert controller_from_state(json.loads(json.dumps(obj.state_dict()))).state_dict() == obj.state_dict()


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="error_window must be a positive int"):
        PRDPController(error_window=0)
    with pytest.raises(ValueError, match="NaN or Inf validation metric"):
        PRDPController().update(float("nan"))
    with pytest.raises(ValueError, match="unknown type"):
        controller_from_state({"type": "Nope"})


def test_savings_follow_the_paper_definitions():
    # Heat 2D as measured with the authors' code: K 1 -> 19 over 70 epochs, 4632 iterations,
    # against K = 60 converged: 86% saved. Here a synthetic schedule with the same totals.
    schedule = [1] * 10 + list(range(1, 20)) * 2 + [19] * 22
    report = savings_report(schedule, k_converged=60)
    assert report["epochs"] == 70 and report["k_max"] == 19
    assert report["total_savings"] == pytest.approx(1 - sum(schedule) / 4200)
    assert report["incomplete_convergence_savings"] == pytest.approx(1 - 19 / 60)
    assert report["progressive_refinement_savings"] == pytest.approx(
        report["total_savings"] - report["incomplete_convergence_savings"])


def test_cost_meter_tallies_epochs_and_round_trips():
    meter = CostMeter()
    meter.record_solve(10, 10, seconds=0.5)
    meter.record_network(1.5)
    meter.end_epoch()
    meter.record_solve(4, seconds=0.1)
    assert meter.total().iterations == 24 and meter.total().matvecs == 24
    assert meter.solver_share() == pytest.approx(0.6 / 2.1)
    other = CostMeter()
    other.load_state_dict(json.loads(json.dumps(meter.state_dict())))
    assert other.total() == meter.total()
