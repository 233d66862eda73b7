"""1 · Summary: task, data, the shipped model beside the best baseline, top findings, verdict."""

from __future__ import annotations

from typing import Any

from trainwell.findings import SEVERITY_ORDER
from trainwell.report.load import RunFiles
from trainwell.report.sections.common import LOWER_IS_BETTER, all_models, metric_keys


def best_baseline(metrics: dict[str, Any]) -> str | None:
    """The best model other than the shipped one, on the validation selection metric."""
    metric = metrics["selection_metric"]
    others = {n: m for n, m in all_models(metrics).items() if n != metrics["shipped"]}
    scored = [(m["validation"].get(metric), n) for n, m in others.items()]
    scored = [(v, n) for v, n in scored if v is not None]
    return min(scored)[1] if scored else None


def verdict(run: RunFiles) -> tuple[str, str]:
    """(level, one line) a busy reader can trust: ok, caution or bad."""
    status = run.manifest.get("status")
    metrics = run.metrics
    if status != "complete" or metrics is None:
        return "bad", (
            f"Incomplete run ({status}): no model was evaluated or shipped. "
            f"Continue it with: trainwell fit --resume {run.path}"
        )
    metric = metrics["selection_metric"]
    shipped = metrics["shipped"]
    dummy = metrics["baselines"].get("dummy", {}).get("test", {}).get(metric)
    value = metrics["test"].get(metric)
    lower = metric in LOWER_IS_BETTER
    if shipped == "dummy" or (
        dummy is not None and value is not None and (value >= dummy if lower else value <= dummy)
    ):
        return "bad", (
            f"Not useful: the shipped model ({shipped}) does not beat predicting the "
            f"{'mean' if run.task == 'regression' else 'class prior'} on test {metric}."
        )
    errors = sorted({f.id for f in run.findings if f.severity == "error"})
    gaps = [f for f in run.findings if f.id == "group-gap"]
    base = (
        f"The shipped {shipped} model beats the dummy baseline on test {metric} "
        f"({value:.4g} vs {dummy:.4g})"
        if dummy is not None and value is not None
        else f"The shipped model is {shipped}"
    )
    if errors:
        return (
            "caution",
            f"Use with caution: {base}, but {len(errors)} error finding(s) were "
            f"accepted or raised ({', '.join(errors)}); read them before use.",
        )
    if gaps:
        return (
            "caution",
            f"Use with caution: {base}, but performance differs between groups "
            f"({'; '.join(g.evidence.get('column', '?') for g in gaps)}).",
        )
    warnings = sum(f.severity == "warning" for f in run.findings)
    return "ok", f"Fit for review: {base}; {warnings} warning(s) to read below."


def build(run: RunFiles) -> dict[str, Any]:
    data = run.manifest.get("data", {})
    metrics = run.metrics
    rows: list[dict[str, Any]] = []
    if metrics is not None:
        shipped = metrics["shipped"]
        models = all_models(metrics)
        rows.append({"name": shipped, "role": "shipped", "test": models[shipped]["test"]})
        other = best_baseline(metrics)
        if other is not None:
            rows.append({"name": other, "role": "best other model", "test": models[other]["test"]})
        if "dummy" not in {r["name"] for r in rows}:
            rows.append({"name": "dummy", "role": "floor", "test": models["dummy"]["test"]})
    ranked = sorted(
        (f for f in run.findings if f.severity != "info"),
        key=lambda f: SEVERITY_ORDER[f.severity],
    )
    level, line = verdict(run)
    return {
        "task": run.task,
        "target": data.get("target"),
        "source": data.get("source"),
        "rows": data.get("rows"),
        "features": len(data.get("features", [])),
        "sizes": run.manifest.get("splits", {}).get("sizes", {}),
        "status": run.manifest.get("status"),
        "keys": metric_keys(run.task),
        "models": rows,
        "top_findings": [f.to_dict() for f in ranked[:5]],
        "more_findings": max(0, len(ranked) - 5),
        "verdict": line,
        "verdict_level": level,
    }
