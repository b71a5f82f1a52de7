"""Runnable cases (`fem-prdp run CASE`): thin compositions of the layers below."""

from .heat import CASES, HeatConfig, case_config, run_heat

__all__ = ["HeatConfig", "run_heat", "CASES", "case_config"]
