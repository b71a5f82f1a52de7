"""The runnable cases by name, with their profiles: the default (minutes on 2 cores),
`quick` (CI-sized, about a minute) and `paper` (the authors' settings, where known)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path

from . import burgers, heat, navier_stokes, poisson
from .runner import CaseConfig, Experiment, run_experiment

__all__ = ["CASES", "PROFILES", "case_config", "run_case"]

PROFILES = ("default", "quick", "paper")


@dataclass(frozen=True)
class Case:
    config: CaseConfig
    build: Callable[[CaseConfig, Path], Experiment]
    quick: dict
    paper: dict | None  # None: the paper has no such case


def _cases(module, build, cases=None) -> dict[str, Case]:
    cases = module.CASES if cases is None else cases
    return {name: Case(cfg, build, module.QUICK[name], module.PAPER.get(name)) for name, cfg in cases.items()}


CASES: dict[str, Case] = {
    **_cases(poisson, poisson.poisson_experiment),
    **_cases(heat, heat.heat_experiment),
    **_cases(heat, heat.heat_meshes_experiment, heat.MESHES),
    **_cases(burgers, burgers.burgers_experiment),
    **_cases(navier_stokes, navier_stokes.navier_stokes_experiment),
}


def case_config(name: str, profile: str = "default", **overrides) -> CaseConfig:
    """The named case's configuration for a profile, with overrides (None values ignored)."""
    if name not in CASES:
        raise ValueError(f"unknown case {name!r}; known cases: {', '.join(CASES)}")
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; known profiles: {', '.join(PROFILES)}")
    case = CASES[name]
    cfg = case.config
    if profile == "quick":
        cfg = replace(cfg, **case.quick)
    elif profile == "paper":
        if case.paper is None:
            with_paper = [n for n, c in CASES.items() if c.paper is not None]
            raise ValueError(f"case {name!r} has no paper profile (the paper has no such case); "
                             f"cases with one: {', '.join(with_paper)}")
        cfg = replace(cfg, **case.paper)
    known = {f.name for f in fields(cfg)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"case {name!r} has no setting {unknown[0]!r}; settings: {', '.join(sorted(known))}")
    return replace(cfg, **{k: v for k, v in overrides.items() if v is not None})


def run_case(name: str, cfg: CaseConfig, out_dir, progress: bool = True, announce=None) -> dict:
    """Build the case's experiment and train PRDP and the baselines; returns the summary
    (`announce`: see `run_experiment`)."""
    out = Path(out_dir)
    return run_experiment(name, cfg, CASES[name].build(cfg, out), out, progress, announce)
