"""Helpers the sections share."""

from __future__ import annotations

from typing import Any

from trainwell.findings import Finding

CLASSIFICATION_KEYS = ["accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss"]
REGRESSION_KEYS = ["rmse", "mae", "r2"]
LOWER_IS_BETTER = {"log_loss", "weighted_log_loss", "rmse", "mae"}


def metric_keys(task: str) -> list[str]:
    return REGRESSION_KEYS if task == "regression" else CLASSIFICATION_KEYS


def findings_of(findings: list[Finding], *stages: str) -> list[dict[str, Any]]:
    return [f.to_dict() for f in findings if f.stage in stages]


def all_models(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{model name: {"validation": {...}, "test": {...}}}, the network first."""
    return {"network": metrics["network"], **metrics["baselines"]}
