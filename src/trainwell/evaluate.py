"""Metrics that fit the task (TW-E01), from sklearn, and the sealed test set (TW-D07).

Model selection uses one number per task, computed the same way for every candidate on the
validation split: the training objective (log loss, class-weighted when training was) for
classification, RMSE for regression. Lower is better.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn import metrics as skm

from trainwell.config import Task


def classification_metrics(
    y: np.ndarray, proba: np.ndarray, sample_weight: np.ndarray | None = None
) -> dict[str, float | None]:
    """Accuracy, balanced accuracy, macro precision/recall/F1, ROC-AUC and log loss.

    ``proba`` is (n, K) with one column per class in the dataset's class order. ROC-AUC is
    None when the split holds a single class (it is undefined then).
    """
    k = proba.shape[1]
    labels = np.arange(k)
    pred = proba.argmax(axis=1)
    clipped = np.clip(proba, 1e-15, 1.0)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    result: dict[str, float | None] = {
        "accuracy": float(skm.accuracy_score(y, pred)),
        "log_loss": float(skm.log_loss(y, clipped, labels=labels)),
    }
    with warnings.catch_warnings():
        # A class absent from a small split makes balanced accuracy and recall warn; the
        # numbers are still the defined ones (absent classes are left out).
        warnings.simplefilter("ignore", UserWarning)
        result["balanced_accuracy"] = float(skm.balanced_accuracy_score(y, pred))
    p, r, f, _ = skm.precision_recall_fscore_support(
        y, pred, labels=labels, average="macro", zero_division=0.0
    )
    result.update(precision_macro=float(p), recall_macro=float(r), f1_macro=float(f))
    present = np.unique(y)
    if len(present) < 2:
        result["roc_auc"] = None
    elif k == 2:
        result["roc_auc"] = float(skm.roc_auc_score(y, proba[:, 1]))
    elif len(present) == k:
        result["roc_auc"] = float(skm.roc_auc_score(y, clipped, multi_class="ovr", labels=labels))
    else:
        result["roc_auc"] = None
    if sample_weight is not None:
        result["weighted_log_loss"] = float(
            skm.log_loss(y, clipped, labels=labels, sample_weight=sample_weight)
        )
    return result


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float | None]:
    return {
        "mae": float(skm.mean_absolute_error(y, pred)),
        "rmse": float(np.sqrt(skm.mean_squared_error(y, pred))),
        "r2": float(skm.r2_score(y, pred)),
    }


def task_metrics(
    task: Task, y: np.ndarray, outputs: np.ndarray, sample_weight: np.ndarray | None = None
) -> dict[str, float | None]:
    if task == "regression":
        return regression_metrics(y, outputs)
    return classification_metrics(y, outputs, sample_weight)


def selection_score(task: Task, scores: dict[str, Any]) -> float:
    """The number candidates are compared on (lower is better); see the module docstring."""
    if task == "regression":
        return float(scores["rmse"])
    return float(scores.get("weighted_log_loss", scores["log_loss"]))


SELECTION_METRIC = {"regression": "rmse", "binary": "log_loss", "multiclass": "log_loss"}


class SealedTest:
    """The test split, opened exactly once for the final evaluation (TW-D07).

    Everything before the final evaluation (baselines, early stopping, model selection) sees
    only train and validation; a second ``open`` is a bug and raises.
    """

    def __init__(self, *arrays: np.ndarray) -> None:
        self._arrays: tuple[np.ndarray, ...] | None = arrays
        self.opened = 0

    def open(self) -> tuple[np.ndarray, ...]:
        if self._arrays is None:
            raise RuntimeError("the sealed test set was already evaluated once (TW-D07)")
        arrays, self._arrays = self._arrays, None
        self.opened += 1
        return arrays
