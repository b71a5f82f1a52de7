"""`fem-prdp report RESULTS...`: combine the summaries of runs (seeds, cases) into one
table with mean, spread and range, and say whether PRDP's final accuracy lies within the
converged baseline's spread over the seeds (the issue's accuracy target)."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

__all__ = ["collect_summaries", "combine", "accuracy_verdict", "headline"]

_RATIO = "final val nMSE ratio PRDP / converged"
_FIELDS = {
    "iteration savings vs converged run": lambda s: s["iteration_savings_vs_converged_run"],
    "savings, paper definition": lambda s: s["paper_definition"]["total_savings"],
    "  incomplete convergence": lambda s: s["paper_definition"]["incomplete_convergence_savings"],
    "  progressive refinement": lambda s: s["paper_definition"]["progressive_refinement_savings"],
    "wall-time savings": lambda s: s["wall_savings_vs_converged_run"],
    "final val nMSE, PRDP": lambda s: s["prdp"]["final_val_metric"],
    "final val nMSE, converged": lambda s: s["converged"]["final_val_metric"],
    # Paired: both runs of a seed share data and initialisation, so the per-seed ratio
    # separates PRDP's effect from the seed-to-seed spread (which can be tens of percent).
    _RATIO: lambda s: s["prdp"]["final_val_metric"] / s["converged"]["final_val_metric"],
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
    """{field: {"mean", "std", "min", "max", "n"}} over the runs of one case (std 0 for one
    run). The ratio field also gets "geomean" (the typical per-seed factor)."""
    out = {}
    for name, get in _FIELDS.items():
        values = [float(get(s)) for s in summaries]
        out[name] = {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                     "min": min(values), "max": max(values), "n": len(values)}
        if name == _RATIO:
            out[name]["geomean"] = math.exp(statistics.fmean(math.log(v) for v in values))
    return out


def accuracy_verdict(summaries: list[dict]) -> dict:
    """Is PRDP's mean final metric within the converged runs' spread over the seeds? Both
    readings of "spread" are given (the converged runs' range, and their mean +- one std),
    with how many seeds PRDP ended at or below its converged twin."""
    prdp = [s["prdp"]["final_val_metric"] for s in summaries]
    conv = [s["converged"]["final_val_metric"] for s in summaries]
    mean, conv_mean = statistics.fmean(prdp), statistics.fmean(conv)
    conv_std = statistics.stdev(conv) if len(conv) > 1 else 0.0
    position = "below" if mean < min(conv) else "above" if mean > max(conv) else "inside"
    return {"runs": len(prdp), "prdp_mean": mean, "converged_min": min(conv), "converged_max": max(conv),
            "position": position,  # of PRDP's mean against the converged range: below = better
            "inside_converged_range": min(conv) <= mean <= max(conv),
            "inside_converged_mean_pm_std": abs(mean - conv_mean) <= conv_std,
            "prdp_at_or_below_converged": sum(p <= c for p, c in zip(prdp, conv, strict=True))}


def headline(summary: dict) -> str:
    """One run's verdict, accuracy first: PRDP's final validation error against the converged
    run's (ratio), then the savings. When PRDP ends less accurate the line says so before
    any savings; a slower PRDP run reads "more wall time", never a negative saving."""
    p, c = summary["prdp"]["final_val_metric"], summary["converged"]["final_val_metric"]
    ratio = p / c if c > 0 else float("inf")
    iters, wall = summary["iteration_savings_vs_converged_run"], summary["wall_savings_vs_converged_run"]
    saved = "n/a" if iters is None else f"{100 * iters:.0f}% fewer solver iterations"
    saved += f", {100 * wall:.0f}% less wall time" if wall >= 0 else f", {-100 * wall:.0f}% more wall time"
    errors = f"final validation error {p:.3e} vs {c:.3e}, {ratio:.2f}x"
    if ratio <= 1:
        return f"PRDP vs converged: as accurate or better ({errors}); {saved}"
    return (f"PRDP ended LESS ACCURATE than the converged run ({errors}; one seed has no spread to judge "
            f"noise by: --seeds 3, then fem-prdp report); at that accuracy it saved: {saved}")
