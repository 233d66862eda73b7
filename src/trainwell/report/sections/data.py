"""2 · Data: audit findings, column summary, class balance, splits, inputs as the network
sees them after preprocessing (TW-D13)."""

from __future__ import annotations

from typing import Any

import numpy as np

from trainwell.report import figures
from trainwell.report.load import RunFiles
from trainwell.report.sections.common import findings_of

SHOWN_ROWS = 3  # sample rows in the raw-versus-encoded table
SHOWN_COLUMNS = 12  # encoded columns in that table


def _input_figure(sample: dict[str, Any]) -> figures.Figure:
    encoded = np.asarray(sample["encoded"], dtype=float)
    labels = [str(v) for v in sample["labels"]]
    order = sorted(range(len(labels)), key=lambda i: labels[i])
    return figures.heatmap(
        encoded[order],
        [labels[i] for i in order],
        sample["encoded_columns"],
        caption=f"{len(labels)} random training rows (one per line, labelled with their target, "
        "sorted by it) as the network's input layer outputs them: numbers imputed and "
        "standardized (clipped to ±3 for colour), categories one-hot or embedded.",
        limit=3.0,
    )


def build(run: RunFiles) -> dict[str, Any]:
    data = run.data or {}
    balance = data.get("class_balance")
    result: dict[str, Any] = {
        "findings": findings_of(run.findings, "audit"),
        "columns": data.get("columns"),
        "balance": balance,
        "quartiles": data.get("target_quartiles"),
        "splits": run.manifest.get("splits", {}),
        "audit": run.manifest.get("audit", {}),
        "figures": [],
        "sample": None,
    }
    if balance:
        splits = list(balance["counts"])
        result["figures"].append(
            figures.bars(
                balance["classes"],
                {s: balance["counts"][s] for s in splits},
                ylabel="rows",
                caption="Rows per class in each split (stratified splits keep the shares equal).",
            )
        )
    sample = data.get("input_sample")
    if sample:
        result["figures"].append(_input_figure(sample))
        columns = sample["encoded_columns"][:SHOWN_COLUMNS]
        result["sample"] = {
            "raw_columns": sample["raw_columns"],
            "raw": sample["raw"][:SHOWN_ROWS],
            "encoded_columns": columns,
            "encoded": [r[:SHOWN_COLUMNS] for r in sample["encoded"][:SHOWN_ROWS]],
            "more_columns": max(0, len(sample["encoded_columns"]) - SHOWN_COLUMNS),
            "labels": sample["labels"][:SHOWN_ROWS],
            "rows": sample["rows"][:SHOWN_ROWS],
        }
    return result
