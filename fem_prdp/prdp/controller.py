"""The PRDP refinement rule (Bhatia, Koehler & Thuerey, ICLR 2025) and the schedules it is
compared with, behind one interface: `update(metric) -> K`.

The rule, per epoch, on a validation metric (lower is better):
1. Keep K until there are at least `error_window + 1` metrics.
2. Plateau test on the exponential moving average (span convention, alpha = 2 / (ema_window
   + 1)): plateau when ema[-1] / ema[-error_window] > plateau_threshold.
3. On a plateau, refine (K += k_step, checkpoint = ema[-1]) when the metric improved enough
   since the last refinement (ema[-1] / checkpoint < checkpoint_threshold) or got worse
   (> 1); otherwise K stays: refinement no longer helps (K_max). The stop is soft: a later
   plateau sufficiently below the checkpoint refines again. There is no upper cap on K.

No global state: everything lives in the object and round-trips through `state_dict`.
This module imports nothing from the rest of the project.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

__all__ = [
    "Decision", "PRDPController", "FixedK", "Converged", "ToleranceSchedule", "TrainingLossPRDP",
    "controller_from_state",
]


@dataclass(frozen=True)
class Decision:
    """One `update` call: what was decided and why."""

    epoch: int
    metric: float
    ema: float | None
    k: int
    decision: str  # "warmup", "keep", "refine", "stop"
    reason: str


@dataclass
class PRDPController:
    """Progressive refinement of the iteration cap K from a validation metric.

    Args (defaults: the authors' code):
        k_min: starting K (1). k_step: increment per refinement (1).
        ema_window: EMA span (6). error_window: plateau look-back in epochs (3).
        plateau_threshold: ema[-1] / ema[-error_window] above this is a plateau (0.98).
        checkpoint_threshold: refine when ema[-1] / checkpoint is below this (0.9).
        initial_checkpoint: checkpoint before the first refinement (100.0; the heat-2D
            setting uses the metric before training).
    """

    k_min: int = 1
    k_step: int = 1
    ema_window: int = 6
    error_window: int = 3
    plateau_threshold: float = 0.98
    checkpoint_threshold: float = 0.9
    initial_checkpoint: float = 100.0
    k: int = field(init=False)
    metrics: list = field(init=False, default_factory=list)
    emas: list = field(init=False, default_factory=list)
    checkpoint: float = field(init=False)
    events: list = field(init=False, default_factory=list)
    name = "prdp"

    def __post_init__(self) -> None:
        for key in ("k_min", "k_step", "ema_window", "error_window"):
            value = getattr(self, key)
            if not isinstance(value, int) or value < (0 if key == "k_min" else 1):
                raise ValueError(f"PRDPController: {key} must be a positive int, got {value!r}")
        for key in ("plateau_threshold", "checkpoint_threshold", "initial_checkpoint"):
            value = getattr(self, key)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"PRDPController: {key} must be a positive number, got {value!r}")
        self.k = self.k_min
        self.checkpoint = float(self.initial_checkpoint)

    @property
    def alpha(self) -> float:
        return 2.0 / (self.ema_window + 1)

    def update(self, metric: float) -> int:
        """Feed this epoch's validation metric; returns K for the next epoch."""
        metric = float(metric)
        if not math.isfinite(metric):
            raise ValueError(f"PRDPController.update: the metric is {metric}; a NaN or Inf validation "
                             "metric means training diverged (raise k_min?)")
        self.metrics.append(metric)
        ema = metric if not self.emas else self.alpha * metric + (1 - self.alpha) * self.emas[-1]
        self.emas.append(ema)
        epoch = len(self.metrics) - 1
        if len(self.metrics) < self.error_window + 1:
            return self._log(epoch, metric, ema, "warmup", f"{len(self.metrics)} of {self.error_window + 1} metrics")
        ratio = ema / self.emas[-self.error_window]
        if ratio <= self.plateau_threshold:
            return self._log(epoch, metric, ema, "keep", f"improving: ema ratio {ratio:.4f} <= {self.plateau_threshold}")
        progress = ema / self.checkpoint
        if progress < self.checkpoint_threshold or progress > 1:
            old = self.k
            self.k += self.k_step
            self.checkpoint = ema
            why = "improved" if progress < 1 else "got worse"
            return self._log(epoch, metric, ema, "refine",
                             f"plateau (ratio {ratio:.4f}); {why} since checkpoint ({progress:.4f}): K {old} -> {self.k}")
        return self._log(epoch, metric, ema, "stop",
                         f"plateau (ratio {ratio:.4f}) but only {progress:.4f} of checkpoint: K_max reached")

    def _log(self, epoch, metric, ema, decision, reason) -> int:
        self.events.append(Decision(epoch, metric, ema, self.k, decision, reason))
        return self.k

    def state_dict(self) -> dict:
        return {"type": type(self).__name__, "config": self._config(), "k": self.k, "metrics": list(self.metrics),
                "emas": list(self.emas), "checkpoint": self.checkpoint,
                # A shallow dict per event: its fields are numbers and strings, and asdict's
                # deep copy made this O(events) of allocations in every epoch's checkpoint.
                "events": [{f.name: getattr(e, f.name) for f in fields(e)} for e in self.events]}

    def _config(self) -> dict:
        return {k: getattr(self, k) for k in ("k_min", "k_step", "ema_window", "error_window", "plateau_threshold",
                                               "checkpoint_threshold", "initial_checkpoint")}

    def load_state_dict(self, state: dict) -> None:
        self.k, self.checkpoint = int(state["k"]), float(state["checkpoint"])
        self.metrics, self.emas = list(state["metrics"]), list(state["emas"])
        self.events = [Decision(**e) for e in state["events"]]


@dataclass
class TrainingLossPRDP(PRDPController):
    """The variant the authors also tried: the same rule fed with the training loss
    instead of a validation metric (refines later; riskier on hard problems)."""

    name = "prdp-train-loss"


@dataclass
class FixedK:
    """Always the same K (a fixed-budget baseline)."""

    k: int = 1
    name = "fixed"

    def __post_init__(self) -> None:
        if not isinstance(self.k, int) or self.k < 0:
            raise ValueError(f"FixedK: k must be an int >= 0, got {self.k!r}")
        self.metrics: list[float] = []

    def update(self, metric: float) -> int:
        self.metrics.append(float(metric))
        return self.k

    def state_dict(self) -> dict:
        return {"type": "FixedK", "config": {"k": self.k}, "metrics": list(self.metrics)}

    def load_state_dict(self, state: dict) -> None:
        self.metrics = list(state["metrics"])


@dataclass
class Converged:
    """Solve to tolerance every time (K = None): the fully converged baseline."""

    k = None
    name = "converged"

    def __post_init__(self) -> None:
        self.metrics: list[float] = []

    def update(self, metric: float) -> None:
        self.metrics.append(float(metric))
        return None

    def state_dict(self) -> dict:
        return {"type": "Converged", "config": {}, "metrics": list(self.metrics)}

    def load_state_dict(self, state: dict) -> None:
        self.metrics = list(state["metrics"])


@dataclass
class ToleranceSchedule:
    """A decreasing relative tolerance instead of an iteration cap: rtol = rtol_start *
    factor ** epoch, floored at rtol_min. `k` is None; read `rtol` each epoch."""

    rtol_start: float = 1e-1
    factor: float = 0.5
    rtol_min: float = 1e-10
    name = "tolerance"
    k = None

    def __post_init__(self) -> None:
        if not (0 < self.factor < 1 and self.rtol_start > 0 and self.rtol_min > 0):
            raise ValueError("ToleranceSchedule: need rtol_start > 0, rtol_min > 0 and 0 < factor < 1")
        self.metrics: list[float] = []

    @property
    def rtol(self) -> float:
        return max(self.rtol_start * self.factor ** len(self.metrics), self.rtol_min)

    def update(self, metric: float) -> None:
        self.metrics.append(float(metric))
        return None

    def state_dict(self) -> dict:
        return {"type": "ToleranceSchedule", "config": {"rtol_start": self.rtol_start, "factor": self.factor,
                                                         "rtol_min": self.rtol_min}, "metrics": list(self.metrics)}

    def load_state_dict(self, state: dict) -> None:
        self.metrics = list(state["metrics"])


_TYPES = {c.__name__: c for c in (PRDPController, TrainingLossPRDP, FixedK, Converged, ToleranceSchedule)}


def controller_from_state(state: dict):
    """Rebuild any controller from its `state_dict()`."""
    if state.get("type") not in _TYPES:
        raise ValueError(f"controller_from_state: unknown type {state.get('type')!r}; known: {sorted(_TYPES)}")
    obj = _TYPES[state["type"]](**state["config"])
    obj.load_state_dict(state)
    return obj
