"""Runnable cases (`fem-prdp run CASE`): thin compositions of the layers below."""

from .heat import HeatConfig, run_heat

__all__ = ["HeatConfig", "run_heat"]
