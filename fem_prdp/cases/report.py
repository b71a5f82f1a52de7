"""`fem-prdp report RESULTS...`: combine the summaries of runs (seeds, cases) into one
table with mean and spread."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

__all__ = ["collect_summaries", "combine"]

_FIELDS = {
    "iteration savings vs converged run": lambda s: s["iteration_savings_vs_converged_run"],
    "savings, paper definition": lambda s: s["paper_definition"]["total_savings"],
    "  incomplete convergence": lambda s: s["paper_definition"]["incomplete_convergence_savings"],
    "  progressive refinement": lambda s: s["paper_definition"]["progressive_refinement_savings"],
    "wall-time savings": lambda s: s["wall_savings_vs_converged_run"],
    "final val nMSE, PRDP": lambda s: s["prdp"]["final_val_metric"],
    "final val nMSE, converged": lambda s: s["converged"]["final_val_metric"],
    "K_max": lambda s: max(s["prdp"]["k_schedule"]),
    "K_eps": lambda s: s["k_converged"],
}


def collect_summaries(paths: list[str]) -> dict[str, list[dict]]:
    """{case: [summary, ...]} from summary.json files or folders holding them (recursively)."""
    found: dict[str, list[dict]] = {}
    for p in map(Path, paths):
        files = [p] if p.is_file() else sorted(p.rglob("summary.json"))
        if not files:
            raise FileNotFoundError(f"report: no summary.json under {p}; run `fem-prdp run CASE` first")
        for f in files:
            s = json.loads(f.read_text())
            case = s.get("case") or f.parent.parent.name
            found.setdefault(case, []).append(s)
    return found


def combine(summaries: list[dict]) -> dict[str, dict]:
    """{field: {"mean", "std", "n"}} over the runs of one case (std 0 for one run)."""
    out = {}
    for name, get in _FIELDS.items():
        values = [float(get(s)) for s in summaries]
        out[name] = {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                     "n": len(values)}
    return out
