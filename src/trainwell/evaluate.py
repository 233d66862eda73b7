"""Metrics that fit the task (TW-E01), from sklearn, and the sealed test set (TW-D07).

Model selection uses one number per task, computed the same way for every candidate on the
validation split: the training objective (log loss, class-weighted when training was) for
classification, RMSE for regression. Lower is better.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn import metrics as skm

from trainwell.candidates import Candidate
from trainwell.config import Task
from trainwell.findings import Finding
from trainwell.modalities.base import Samples
from trainwell.selection import choose_model


def classification_metrics(
    y: np.ndarray, proba: np.ndarray, sample_weight: np.ndarray | None = None
) -> dict[str, float | None]:
    """Accuracy, balanced accuracy, macro precision/recall/F1, ROC-AUC and log loss.

    ``proba`` is (n, K) with one column per class in the dataset's class order. ROC-AUC is
    None when the split lacks a class (it is undefined then). Balanced accuracy and the macro
    metrics average over the classes present in ``y`` (see :func:`macro_scores`), so macro
    recall equals balanced accuracy on every split, whether or not a class is absent from it.
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
    result.update(macro_scores(y, pred))
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


def macro_scores(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Macro precision, recall and F1 over the classes present in the true labels ``y``.

    scikit-learn averages over the classes in ``labels=``; a listed class that never occurs
    in ``y`` has no recall (0/0), which ``zero_division`` then replaces (0 here), so listing
    every class would average each absent class in as 0 and contradict balanced accuracy,
    which leaves absent classes out. Without ``labels=`` sklearn would average over the classes
    in ``y`` *or* ``pred``, so a predicted absent class would count too. Hence
    ``labels=np.unique(y)``: macro recall then equals ``balanced_accuracy_score`` (the mean
    recall of the classes present). A present class that is never predicted still has
    precision 0 (``zero_division=0``) and its predictions of absent classes count as errors.
    When every class is present the numbers are those of ``labels=range(K)``.

    Args:
        y: (n,) true class indices. pred: (n,) predicted class indices.

    Returns:
        ``{"precision_macro", "recall_macro", "f1_macro"}``, each in [0, 1].
    """
    p, r, f, _ = skm.precision_recall_fscore_support(
        y, pred, labels=np.unique(y), average="macro", zero_division=0.0
    )
    return {"precision_macro": float(p), "recall_macro": float(r), "f1_macro": float(f)}


def f1_macro(y: np.ndarray, pred: np.ndarray) -> float:
    """Macro F1 over the classes present in ``y`` (:func:`macro_scores`); per-group metrics."""
    return macro_scores(np.asarray(y), np.asarray(pred))["f1_macro"]


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
    only train and validation; a second ``open`` is a bug and raises. ``rows`` (the dataset
    rows it holds) are public so checks can prove nothing else touched them.
    """

    def __init__(self, samples: Samples, y: np.ndarray) -> None:
        self._held: tuple[Samples, np.ndarray] | None = (samples, y)
        self.rows = samples.rows
        self.opened = 0

    def open(self) -> tuple[Samples, np.ndarray]:
        if self._held is None:
            raise RuntimeError("the sealed test set was already evaluated once (TW-D07)")
        held, self._held = self._held, None
        self.opened += 1
        return held


@dataclass
class Evaluation:
    """The evaluate stage's record: validation scores of every candidate, the shipped one,
    and the one sealed evaluation of the test split (TW-D07)."""

    metrics: dict[str, Any]  # metrics.json
    shipped: str
    test_outputs: dict[str, np.ndarray]  # every candidate's outputs on the test split
    findings: list[Finding] = field(default_factory=list)


def score_candidates(
    task: Task,
    candidates: Sequence[Candidate],
    samples: Samples,
    y: np.ndarray,
    class_weights: np.ndarray | None,
) -> tuple[dict[str, dict[str, Any]], dict[str, np.ndarray]]:
    """Every candidate's metrics and outputs on one split (weighted log loss when training
    was class-weighted, TW-D11)."""
    weights = None if class_weights is None else class_weights[y]
    outputs = {c.name: c.outputs(samples) for c in candidates}
    scores = {n: task_metrics(task, y, o, weights) for n, o in outputs.items()}
    return scores, outputs


def evaluate(
    task: Task,
    candidates: Sequence[Candidate],
    validation: Samples,
    y_validation: np.ndarray,
    test: SealedTest,
    class_weights: np.ndarray | None,
    ship: str,
    cv: int = 0,
) -> Evaluation:
    """Select on validation, then open the sealed test split once and score every candidate
    on it (the shipped model's test outputs are kept, so it is never run through a model
    again).

    ``ship``: ``best`` (the lowest validation selection score, or a simpler candidate that
    validation cannot tell from it: :func:`trainwell.selection.choose_model`) or a name.
    ``cv``: the run's ``split.cv``, for the advice of a ``validation-too-small`` finding.
    """
    scores, outputs = score_candidates(task, candidates, validation, y_validation, class_weights)
    weights = None if class_weights is None else class_weights[y_validation]
    # TW-A02/A08: the simpler model ships when validation is too small to tell it from the best.
    selection = choose_model(task, y_validation, outputs, weights, cv=cv)
    shipped = selection.chosen if ship == "best" else ship
    findings = [*selection_findings(task, scores, selection.best, shipped), *selection.findings]
    test_samples, y_test = test.open()
    test_scores, test_outputs = score_candidates(
        task, candidates, test_samples, y_test, class_weights
    )
    metrics = {
        "shipped": shipped,
        "selection_metric": SELECTION_METRIC[task],
        "validation": scores[shipped],
        "test": test_scores[shipped],
        "network": {"validation": scores["network"], "test": test_scores["network"]},
        "baselines": {
            c.name: {
                "validation": scores[c.name],
                "test": test_scores[c.name],
                **({"info": _info(c)} if _info(c) else {}),
            }
            for c in candidates
            if c.name != "network"
        },
    }
    return Evaluation(metrics, shipped, test_outputs, findings)


def _info(candidate: Candidate) -> dict[str, Any]:
    return {k: v for k, v in candidate.info.items() if k != "task"}


def selection_findings(
    task: Task, scores: dict[str, dict[str, Any]], best: str, shipped: str
) -> list[Finding]:
    """Say plainly when a baseline beats the network on validation (TW-A08)."""
    metric = SELECTION_METRIC[task]
    net = selection_score(task, scores["network"])
    if best == "network":
        return []
    top = selection_score(task, scores[best])
    return [
        Finding(
            id="baseline-beats-network",
            practice="TW-A08",
            severity="warning" if best == "dummy" else "info",
            stage="evaluate",
            message=f"The {best} baseline beat the network on validation {metric} "
            f"({top:.4g} vs {net:.4g}); the shipped model is {shipped}.",
            evidence={
                "metric": metric,
                "validation": {n: selection_score(task, s) for n, s in scores.items()},
            },
            fix="Ship it (the default), or keep the network with baselines.ship=network; "
            "on tabular data gradient boosting often wins."
            if best != "dummy"
            else "Nothing beat predicting the prior: check that the features carry signal.",
        )
    ]
