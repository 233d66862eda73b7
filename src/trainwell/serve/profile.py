"""What a served model's inputs are compared with: the training split's profile (TW-P06).

``splits.json`` holds only row indices, and the data file may be gone or changed by the time a
model is served, so the recorder writes ``RUN_DIR/train_profile.json`` when it ships the
model: per feature its modality measures drift on (``Modality.drift_features``: a table's
input columns; a text's length and unknown-word share, an image's size and brightness, a
series' level and spread per channel, a sound's duration and loudness) a seeded sample of at
most :data:`SAMPLE` training values (numeric and datetime features, datetimes as days since
1970) or the counts of each value (categorical and boolean features), and the same for the
shipped model's predictions on the training split.
A sample rather than a histogram, so the drift tests (KS, PSI) can bin however they need.

This module imports only numpy and pandas: ``trainwell fit`` writes the profile without the
serving extras installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from trainwell.files import write_json

if TYPE_CHECKING:
    from trainwell.candidates import Candidate
    from trainwell.pipeline import Prepared

PROFILE_JSON = "train_profile.json"
SAMPLE = 1000  # reference values kept per numeric feature
MAX_LEVELS = 200  # categories kept per categorical feature; the rest count as "(other)"
OTHER = "(other)"
PREDICTED = 5000  # training rows predicted for the prediction reference


def feature_values(kind: str, values: pd.Series) -> pd.Series:
    """One feature's raw values as what drift compares: floats (numeric, datetime as days
    since 1970) or strings (categorical, boolean), missing values dropped."""
    if kind in {"numeric", "regression"}:  # regression: a regression model's predictions
        return pd.to_numeric(values, errors="coerce").astype("float64").dropna()
    if kind == "datetime":
        stamps = pd.to_datetime(values, errors="coerce", format="ISO8601", utc=True)
        days = (stamps - pd.Timestamp("1970-01-01", tz="UTC")) / pd.Timedelta(days=1)
        return days.astype("float64").dropna()
    return values.dropna().astype(str).str.strip()


def is_numeric(kind: str) -> bool:
    return kind in {"numeric", "datetime", "regression"}


def summarize(kind: str, values: pd.Series, seed: int = 0) -> dict[str, Any]:
    """A reference for one feature: ``{"kind", "rows", "missing", "sample" | "counts"}``."""
    clean = feature_values(kind, values)
    record: dict[str, Any] = {
        "kind": kind,
        "rows": len(values),
        "missing": float(1 - len(clean) / len(values)) if len(values) else 0.0,
    }
    if is_numeric(kind):
        array = clean.to_numpy()
        if len(array) > SAMPLE:
            array = np.random.default_rng(seed).choice(array, SAMPLE, replace=False)
        record["sample"] = [float(v) for v in np.sort(array)]
    else:
        counts = clean.value_counts()
        kept = counts.iloc[:MAX_LEVELS]
        record["counts"] = {str(k): int(v) for k, v in kept.items()}
        if len(counts) > MAX_LEVELS:
            record["counts"][OTHER] = int(counts.iloc[MAX_LEVELS:].sum())
    return record


def train_profile(prepared: Prepared, shipped: Candidate) -> dict[str, Any] | None:
    """The training split's profile: each feature the modality measures drift on
    (``Modality.drift_features``: a table's input columns, a text's length, an image's
    brightness ...) and the predictions of ``shipped``, the model served, on the training
    split; None when the modality names no features."""
    from trainwell.predictor import prediction_table

    ds = prepared.dataset
    rows = prepared.splits.indices("train")
    train = prepared.samples.subset(rows)
    features = {
        name: summarize(kind, values)
        for name, (kind, values) in prepared.modality.drift_features(train).items()
    }
    if not features:
        return None
    if len(rows) > PREDICTED:  # the prediction reference needs no more rows than this
        keep = np.sort(np.random.default_rng(0).choice(len(rows), PREDICTED, replace=False))
        train = train.subset(keep)
    outputs = shipped.outputs(train)
    classes = list(ds.classes) if ds.classes is not None else None
    predictions = prediction_table(ds.task, classes, outputs)["prediction"]
    kind = "regression" if ds.task == "regression" else "categorical"
    return {
        "format": 1,
        "split": "train",
        "rows": len(rows),
        "features": features,
        "prediction": summarize(kind, predictions),
    }


def write_train_profile(run_dir: Path, prepared: Prepared, shipped: Candidate) -> bool:
    """Write ``run_dir/train_profile.json``; False (nothing written) when the modality names
    no drift features."""
    profile = train_profile(prepared, shipped)
    if profile is None:
        return False
    write_json(run_dir / PROFILE_JSON, profile)
    return True
