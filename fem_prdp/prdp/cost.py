"""Cost accounting for PRDP runs: solver iterations (primal and adjoint), matrix-vector
products, and wall time split between solver and network, per epoch and cumulative; plus
the paper's savings definitions."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = ["CostMeter", "EpochCost", "savings_report"]


@dataclass
class EpochCost:
    primal_iters: int = 0
    adjoint_iters: int = 0
    matvecs: int = 0
    solver_seconds: float = 0.0
    network_seconds: float = 0.0
    solves: int = 0

    @property
    def iterations(self) -> int:
        return self.primal_iters + self.adjoint_iters


@dataclass
class CostMeter:
    """Physics calls report here; `end_epoch()` closes the current epoch's tally."""

    epochs: list = field(default_factory=list)
    current: EpochCost = field(default_factory=EpochCost)

    def record_solve(self, primal_iters: int, adjoint_iters: int = 0, matvecs: int | None = None,
                     seconds: float = 0.0, solves: int = 1) -> None:
        c = self.current
        c.primal_iters += int(primal_iters)
        c.adjoint_iters += int(adjoint_iters)
        c.matvecs += int(primal_iters + adjoint_iters if matvecs is None else matvecs)
        c.solver_seconds += float(seconds)
        c.solves += int(solves)

    def record_network(self, seconds: float) -> None:
        self.current.network_seconds += float(seconds)

    def end_epoch(self) -> EpochCost:
        done, self.current = self.current, EpochCost()
        self.epochs.append(done)
        return done

    def total(self) -> EpochCost:
        t = EpochCost()
        for e in [*self.epochs, self.current]:
            for key in ("primal_iters", "adjoint_iters", "matvecs", "solver_seconds", "network_seconds", "solves"):
                setattr(t, key, getattr(t, key) + getattr(e, key))
        return t

    def solver_share(self) -> float:
        """Fraction of the recorded (solver + network) time spent in the linear solves,
        primal and adjoint."""
        t = self.total()
        busy = t.solver_seconds + t.network_seconds
        return t.solver_seconds / busy if busy > 0 else 0.0

    def state_dict(self) -> dict:
        return {"epochs": [asdict(e) for e in self.epochs], "current": asdict(self.current)}

    def load_state_dict(self, state: dict) -> None:
        self.epochs = [EpochCost(**e) for e in state["epochs"]]
        self.current = EpochCost(**state["current"])


def savings_report(k_schedule: list[int], k_converged: int) -> dict:
    """The paper's iteration savings against training at the converged cap K_eps for the
    same number of epochs: total = 1 - sum(K) / (K_eps * epochs); incomplete convergence
    IC = 1 - K_max / K_eps; progressive refinement PR = total - IC."""
    if not k_schedule:
        raise ValueError("savings_report: empty K schedule")
    if k_converged <= 0:
        raise ValueError(f"savings_report: the converged cap must be positive, got {k_converged}")
    epochs, k_max = len(k_schedule), max(k_schedule)
    total = 1 - sum(k_schedule) / (k_converged * epochs)
    ic = 1 - k_max / k_converged
    return {"epochs": epochs, "k_max": k_max, "k_converged": k_converged, "iterations": sum(k_schedule),
            "baseline_iterations": k_converged * epochs, "total_savings": total,
            "incomplete_convergence_savings": ic, "progressive_refinement_savings": total - ic}
