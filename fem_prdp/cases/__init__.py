"""Runnable cases (`fem-prdp run CASE`): thin compositions of the layers below."""

from .registry import CASES, PROFILES, case_config, run_case
from .runner import CaseConfig, Experiment, run_experiment

__all__ = ["CASES", "PROFILES", "case_config", "run_case", "CaseConfig", "Experiment", "run_experiment"]
