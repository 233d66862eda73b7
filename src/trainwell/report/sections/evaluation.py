"""4 · Evaluation: test metrics with 95% confidence intervals (Wilson, BCa bootstrap; see
trainwell.report.intervals), every model side by side, confusion matrix, ROC/PR and calibration
curves or predicted-versus-actual and residuals, and the worst errors (TW-E01, TW-E03). Built
from the saved test predictions (TW-D07)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from trainwell.evaluate import task_metrics
from trainwell.report import figures
from trainwell.report.intervals import Interval, metric_intervals
from trainwell.report.load import RunFiles
from trainwell.report.sections.common import all_models, findings_of, metric_keys

WORST = 10  # rows in the worst-errors table
WORST_COLUMNS = 8  # input columns shown with them (the most important first)


def outputs_of(predictions: pd.DataFrame, task: str) -> np.ndarray:
    if task == "regression":
        return predictions["y_pred"].to_numpy(dtype=float)
    columns = sorted(
        (c for c in predictions.columns if c.startswith("p_")), key=lambda c: int(c[2:])
    )
    return predictions[columns].to_numpy(dtype=float)


def interval_summary(intervals: dict[str, Interval]) -> str:
    """One sentence naming each interval method and its metrics, e.g. "Wilson score
    (accuracy); BCa bootstrap, 1999 resamples of the test rows (log_loss, roc_auc)"."""
    by_method: dict[str, list[str]] = {}
    for key, interval in intervals.items():
        if interval.low is not None:
            by_method.setdefault(interval.method, []).append(key)
    return "; ".join(
        f"{method.replace(' resamples', ' resamples of the test rows')} ({', '.join(keys)})"
        for method, keys in by_method.items()
    )


def _classification_figures(
    y: np.ndarray, out: np.ndarray, classes: list[str]
) -> list[figures.Figure]:
    k = out.shape[1]
    pred = out.argmax(axis=1)
    matrix = skm.confusion_matrix(y, pred, labels=np.arange(k))
    found = [
        figures.heatmap(
            matrix.astype(float),
            [f"true {c}" for c in classes],
            [f"pred {c}" for c in classes],
            caption="Confusion matrix of the test split: rows are the true class, columns the "
            "predicted one (counts).",
            annotate=True,
            cmap="Blues",
        )
    ]
    present = [j for j in range(k) if 0 < (y == j).sum() < len(y)]
    positives = [1] if k == 2 else present
    roc, pr = {}, {}
    for j in positives:
        if j not in present:
            continue
        fpr, tpr, _ = skm.roc_curve(y == j, out[:, j])
        precision, recall, _ = skm.precision_recall_curve(y == j, out[:, j])
        name = classes[j] if k > 2 else f"positive class {classes[j]}"
        roc[f"{name} (AUC {skm.auc(fpr, tpr):.3f})"] = (fpr, tpr)
        ap = skm.average_precision_score(y == j, out[:, j])
        pr[f"{name} (AP {ap:.3f})"] = (recall, precision)
    if roc:
        found.append(
            figures.curves(
                roc,
                xlabel="false positive rate",
                ylabel="true positive rate",
                caption="ROC curve(s) on the test split"
                + (" (one class against the rest)" if k > 2 else "")
                + ".",
                diagonal=True,
            )
        )
        found.append(
            figures.curves(
                pr,
                xlabel="recall",
                ylabel="precision",
                caption="Precision-recall curve(s) on the test split.",
            )
        )
    if k == 2:
        prob, truth = out[:, 1], (y == 1).astype(int)
        label = f"P({classes[1]})"
    else:
        prob, truth = out.max(axis=1), (pred == y).astype(int)
        label = "confidence of the predicted class"
    bins = int(min(10, max(2, len(y) // 10)))
    frac, mean = calibration_curve(truth, prob, n_bins=bins, strategy="quantile")
    found.append(
        figures.curves(
            {"model": (mean, frac)},
            xlabel=f"predicted {label}",
            ylabel="observed frequency",
            diagonal=True,
            caption=f"Calibration on the test split ({bins} bins of equal size): "
            "points on the dotted diagonal are well calibrated.",
        )
    )
    return found


def _regression_figures(y: np.ndarray, out: np.ndarray) -> list[figures.Figure]:
    return [
        figures.curves(
            {"test rows": (y, out)},
            xlabel="actual",
            ylabel="predicted",
            scatter=True,
            diagonal=True,
            caption="Predicted against actual values on the test split "
            "(the dotted line is a perfect prediction).",
        ),
        figures.curves(
            {"test rows": (out, y - out)},
            xlabel="predicted",
            ylabel="residual (actual - predicted)",
            scatter=True,
            hline=0.0,
            caption="Residuals against predictions: a pattern means a systematic error.",
        ),
    ]


def worst_errors(run: RunFiles, y: np.ndarray, out: np.ndarray) -> dict[str, Any]:
    """The test rows with the largest loss, with their inputs (most important columns first)."""
    predictions = run.predictions
    assert predictions is not None
    classes = run.classes
    true: list[Any]
    predicted: list[Any]
    confidence: list[Any]
    if run.task == "regression":
        loss = np.abs(y - out)
        true = [float(v) for v in y]
        predicted = [float(v) for v in out]
        confidence = [None] * len(y)
        loss_name = "absolute error"
    else:
        assert classes is not None
        loss = -np.log(np.clip(out[np.arange(len(y)), y], 1e-15, 1.0))
        true = [classes[int(v)] for v in y]
        predicted = [classes[int(v)] for v in out.argmax(axis=1)]
        confidence = [float(v) for v in out.max(axis=1)]
        loss_name = "log loss"
    order = np.argsort(-loss, kind="stable")[:WORST]
    importance = (run.explanations or {}).get("importance", {}).get("features", [])
    inputs = run.test_inputs
    columns: list[str] = []
    if inputs is not None:
        ranked = [f["name"] for f in importance if f["name"] in inputs.columns]
        columns = (ranked + [c for c in inputs.columns if c not in ranked])[:WORST_COLUMNS]
    rows = []
    for i in order:
        values = {}
        if inputs is not None:
            record = inputs.iloc[int(i)]
            values = {c: _plain(record[c]) for c in columns}
        rows.append(
            {
                "row": int(predictions.index[int(i)]),
                "true": true[i],
                "predicted": predicted[i],
                "confidence": confidence[i],
                "loss": float(loss[i]),
                "values": values,
            }
        )
    wrong = int(sum(t != p for t, p in zip(true, predicted, strict=True)))
    return {
        "rows": rows,
        "columns": columns,
        "loss_name": loss_name,
        "wrong": wrong,
        "total": len(y),
    }


def _plain(value: Any) -> Any:
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    return round(value, 4) if isinstance(value, float) else value


def build(run: RunFiles) -> dict[str, Any]:
    metrics = run.metrics
    result: dict[str, Any] = {
        "available": metrics is not None,
        "findings": findings_of(run.findings, "evaluate"),
        "keys": metric_keys(run.task),
        "figures": [],
    }
    if metrics is None:
        return result
    result["models"] = all_models(metrics)
    result["shipped"] = metrics["shipped"]
    result["test"] = metrics["test"]
    result["selection_metric"] = metrics["selection_metric"]
    # A streamed table (trainwell.streaming_eval): metrics.json's test metrics are over every
    # test row of the file; the saved predictions, and so the figures, are the sample's.
    result["test_split"] = metrics.get("test_split")
    sample_test = (metrics.get("test_split") or {}).get("sample", {}).get("test", metrics["test"])
    predictions = run.predictions
    if predictions is None:
        return result
    y = predictions["y_true"].to_numpy()
    out = outputs_of(predictions, run.task)
    keys = [k for k in result["keys"] if sample_test.get(k) is not None]
    report_cfg = run.config.get("report", {})
    n_boot = int(report_cfg.get("bootstrap", 1999))
    intervals = metric_intervals(run.task, y, out, keys, n_boot, int(run.config.get("seed", 0)))
    result["ci"] = {
        k: (i.low, i.high) if i.low is not None and i.high is not None else None
        for k, i in intervals.items()
    }
    # How each interval was made (or why there is none), shown with it in the report and card.
    result["ci_method"] = {k: i.note or i.method for k, i in intervals.items()}
    result["ci_summary"] = interval_summary(intervals)
    result["bootstrap"] = n_boot
    # The saved predictions must reproduce metrics.json: both come from one evaluation.
    recomputed = task_metrics(run.task, y, out)  # type: ignore[arg-type]
    result["consistent"] = all(
        math.isclose(recomputed[k] or 0.0, sample_test[k] or 0.0, rel_tol=1e-6, abs_tol=1e-9)
        for k in keys
    )
    if run.task == "regression":
        result["figures"] = _regression_figures(y, out)
    else:
        assert run.classes is not None
        result["figures"] = _classification_figures(y, out, run.classes)
    result["worst"] = worst_errors(run, y, out)
    return result
