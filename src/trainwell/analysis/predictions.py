"""The test split's predictions, saved from the one sealed evaluation (TW-D07, TW-E03).

``predictions/test.parquet`` holds, per test row (index ``row``: the row's position in the
data after rows without a target were dropped), the true and predicted target as codes (class
index into ``manifest.data.classes``) or values, and for classification one probability column
per class (``p_0``, ``p_1``, ...). ``predictions/test_inputs.parquet`` holds the same rows'
raw columns, so the report can show the worst errors and per-group results. Parquet, not
pickle: plain columns any tool can read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from trainwell.config import Task

FOLDER = "predictions"


def prediction_frame(
    task: Task, rows: np.ndarray, y: np.ndarray, outputs: np.ndarray
) -> pd.DataFrame:
    """Codes or values of the truth and the prediction, and class probabilities."""
    index = pd.Index(rows.astype(np.int64), name="row")
    if task == "regression":
        return pd.DataFrame(
            {"y_true": y.astype(float), "y_pred": outputs.astype(float)}, index=index
        )
    frame = pd.DataFrame(
        {"y_true": y.astype(np.int64), "y_pred": outputs.argmax(axis=1).astype(np.int64)},
        index=index,
    )
    for k in range(outputs.shape[1]):
        frame[f"p_{k}"] = outputs[:, k].astype(float)
    return frame


def save_test_predictions(run: Path, predictions: pd.DataFrame, inputs: pd.DataFrame) -> None:
    """Write ``predictions/test.parquet`` and ``predictions/test_inputs.parquet``."""
    folder = run / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    predictions.to_parquet(folder / "test.parquet")
    raw = inputs.copy()
    raw.index = predictions.index
    try:
        raw.to_parquet(folder / "test_inputs.parquet")
    except (pa.ArrowException, TypeError, ValueError):
        # A column mixing types (numbers and text) cannot be one Arrow type: keep it as text.
        mixed = [c for c in raw.columns if raw[c].dtype == "object"]
        raw[mixed] = raw[mixed].astype("string")
        raw.to_parquet(folder / "test_inputs.parquet")


def read_test_predictions(run: Path) -> tuple[pd.DataFrame, pd.DataFrame | None] | None:
    """The saved predictions and raw rows, or None when the run never reached evaluation."""
    path = run / FOLDER / "test.parquet"
    if not path.is_file():
        return None
    inputs_path = run / FOLDER / "test_inputs.parquet"
    inputs = pd.read_parquet(inputs_path) if inputs_path.is_file() else None
    return pd.read_parquet(path), inputs
