"""5 · Groups (TW-E04): test metrics per group and the largest gaps, from groups.json."""

from __future__ import annotations

from typing import Any

from trainwell.report import figures
from trainwell.report.load import RunFiles


def build(run: RunFiles) -> dict[str, Any]:
    saved = run.groups
    named = run.config.get("report", {}).get("groups", [])
    findings = [f.to_dict() for f in run.findings if f.practice == "TW-E04"]
    if not saved:
        return {"columns": [], "named": named, "findings": findings, "figures": []}
    columns = []
    for result in saved["columns"]:
        metric = result["metric"]
        labels = [g["group"] for g in result["groups"]]
        figure = figures.bars(
            labels,
            {metric: [g["metrics"][metric] or 0.0 for g in result["groups"]]},
            ylabel=f"test {metric}",
            caption=f"Test {metric} per {result['column']!r} group "
            f"(overall {result['overall'][metric]:.4g}).",
            horizontal=True,
        )
        columns.append({**result, "figure": figure, "metric_names": list(result["overall"])})
    return {
        "columns": columns,
        "named": named,
        "findings": findings,
        "settings": saved.get("settings", {}),
    }
