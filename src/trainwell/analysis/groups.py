"""Per-group performance on the test split with fairlearn's MetricFrame (TW-E04).

For each column named in ``report.groups`` (``--groups sex,age_band``), the shipped model's
test predictions (from the one sealed evaluation) are scored per group, with each group's
share of the training and test splits (representation). A gap between groups at least
``report.group_gap`` (accuracy) or ``report.group_gap_relative`` (regression: the spread of
the groups' MAE over the overall MAE) is a ``group-gap`` warning. Groups with fewer than
``report.min_group_size`` test rows are listed but not judged: their metrics are noise.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from trainwell.config import ReportConfig, Task
from trainwell.findings import Finding

MISSING = "(missing)"


def group_labels(values: pd.Series) -> tuple[pd.Series, bool]:
    """Each row's group as text; numbers with more than 10 values become quartile bins."""
    binned = False
    if values.dtype.kind in "if" and values.nunique() > 10:
        bins = pd.qcut(values, 4, duplicates="drop")
        labels = bins.astype("string")
        binned = True
    else:
        labels = values.astype("string")
    return labels.fillna(MISSING).astype(str), binned


def _metrics(task: Task) -> dict[str, Callable[..., float]]:
    from fairlearn.metrics import count, selection_rate

    if task == "regression":

        def rmse(y_true: Any, y_pred: Any) -> float:
            return float(np.sqrt(skm.mean_squared_error(y_true, y_pred)))

        return {"mae": skm.mean_absolute_error, "rmse": rmse, "count": count}
    found: dict[str, Callable[..., float]] = {"accuracy": skm.accuracy_score}
    if task == "binary":
        # Equal opportunity and demographic parity, the two gaps most fairness reviews ask for.
        found["true_positive_rate"] = functools.partial(
            skm.recall_score, pos_label=1, zero_division=0.0
        )
        found["selection_rate"] = functools.partial(selection_rate, pos_label=1)
    else:
        # Over the classes present in the group's true labels, as the test metrics are.
        from trainwell.evaluate import f1_macro

        found["f1_macro"] = f1_macro
    found["count"] = count
    return found


def group_metrics(
    task: Task,
    column: str,
    labels: pd.Series,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    train_labels: pd.Series,
    cfg: ReportConfig,
) -> dict[str, Any]:
    """MetricFrame results for one column: overall, per group, gaps between judged groups."""
    from fairlearn.metrics import MetricFrame

    frame = MetricFrame(
        metrics=_metrics(task),
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=pd.Series(labels.to_numpy(), name=column),
    )
    by_group = frame.by_group
    train_share = train_labels.value_counts(normalize=True)
    test_share = labels.value_counts(normalize=True)
    groups: list[dict[str, Any]] = []
    for name, row in by_group.iterrows():
        values = {k: (None if pd.isna(v) else float(v)) for k, v in row.items()}
        groups.append(
            {
                "group": str(name),
                "count": int(values.pop("count") or 0),
                "metrics": values,
                "train_share": float(train_share.get(name, 0.0)),
                "test_share": float(test_share.get(name, 0.0)),
                "judged": bool((row["count"] or 0) >= cfg.min_group_size),
            }
        )
    judged = [g for g in groups if g["judged"]]
    metric = "mae" if task == "regression" else "accuracy"
    overall = {k: float(v) for k, v in frame.overall.items() if k != "count"}
    gaps = {}
    for name in overall:
        scores = [g["metrics"][name] for g in judged if g["metrics"][name] is not None]
        gaps[name] = float(max(scores) - min(scores)) if len(scores) >= 2 else None
    worst: dict[str, Any] | None = None
    best: dict[str, Any] | None = None
    if len(judged) >= 2:
        ordered = sorted(judged, key=lambda g: g["metrics"][metric])
        low, high = ordered[0], ordered[-1]
        worst, best = (high, low) if task == "regression" else (low, high)
    return {
        "column": column,
        "metric": metric,
        "overall": overall,
        "groups": groups,
        "gaps": gaps,
        "worst": worst["group"] if worst else None,
        "best": best["group"] if best else None,
    }


def gap_finding(task: Task, result: dict[str, Any], cfg: ReportConfig) -> Finding | None:
    """A ``group-gap`` warning when the judged groups differ by more than the threshold."""
    metric, gap = result["metric"], result["gaps"].get(result["metric"])
    if gap is None or result["worst"] is None:
        return None
    overall = result["overall"][metric]
    size = gap / overall if task == "regression" and overall > 0 else gap
    limit = cfg.group_gap_relative if task == "regression" else cfg.group_gap
    if size < limit:
        return None
    by_name = {g["group"]: g for g in result["groups"]}
    worst, best = by_name[result["worst"]], by_name[result["best"]]
    column = result["column"]
    what = "MAE" if task == "regression" else "accuracy"
    return Finding(
        id="group-gap",
        practice="TW-E04",
        severity="warning",
        stage="evaluate",
        message=f"Test {what} differs by {gap:.3g} between {column!r} groups: "
        f"{worst['group']} {worst['metrics'][metric]:.3g} (n={worst['count']}) vs "
        f"{best['group']} {best['metrics'][metric]:.3g} (n={best['count']}).",
        evidence={
            "column": column,
            "metric": metric,
            "gap": gap,
            "threshold": limit,
            "worst": {k: worst[k] for k in ("group", "count", "metrics", "train_share")},
            "best": {k: best[k] for k in ("group", "count", "metrics", "train_share")},
        },
        fix=f"Check whether {worst['group']!r} is under-represented in training "
        f"({worst['train_share']:.0%} of the training rows) and add data for it; look at its "
        "errors in the report; if the gap must close, try fairlearn's mitigations "
        "(ThresholdOptimizer, ExponentiatedGradient). State the gap in the model card.",
    )


def small_groups_finding(results: list[dict[str, Any]], cfg: ReportConfig) -> Finding | None:
    """An info finding listing groups too small in the test split to be judged."""
    small = [
        {"column": r["column"], "group": g["group"], "count": g["count"]}
        for r in results
        for g in r["groups"]
        if not g["judged"]
    ]
    if not small:
        return None
    names = ", ".join(f"{s['column']}={s['group']} (n={s['count']})" for s in small[:5])
    if len(small) > 5:  # the count above is all of them; the list shows five
        names += f" and {len(small) - 5} more"
    return Finding(
        id="groups-too-small",
        practice="TW-E04",
        severity="info",
        stage="evaluate",
        message=f"{len(small)} group(s) have fewer than {cfg.min_group_size} test rows, too "
        f"few to judge: {names}.",
        evidence={"groups": small, "min_group_size": cfg.min_group_size},
        fix="Collect more rows of these groups, or merge small groups into a wider band, "
        f"or lower report.min_group_size (now {cfg.min_group_size}) knowingly.",
    )
