"""The benchmark timers' arithmetic, on a scripted clock (no wall-clock assertions)."""

import itertools

import pytest

from fem_prdp import _timing


class _Loss:
    def __init__(self, log):
        self.log = log

    def backward(self):
        self.log.append("backward")


def test_forward_and_backward_alternate_and_the_ratio_is_the_rounds_median(monkeypatch):
    # rounds (warm-up first): forward, backward seconds
    rounds = [(9.0, 9.0), (1.0, 3.0), (2.0, 1.0), (4.0, 8.0)]
    ticks = itertools.accumulate(x for f, b in rounds for x in (0.0, f, b))
    monkeypatch.setattr(_timing.time, "perf_counter", lambda: next(ticks))
    log = []

    def make_loss():
        log.append("forward")
        return _Loss(log)

    fwd, bwd, ratio = _timing.median_forward_backward(make_loss, repeats=3)
    assert log == ["forward", "backward"] * 4
    assert (fwd, bwd) == (2.0, 3.0)
    assert ratio == pytest.approx(2.0)  # the rounds' 3, 0.5, 2; not median(bwd) / median(fwd) = 1.5
