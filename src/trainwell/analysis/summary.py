"""The data section's numbers: column summary, class balance per split, and training rows as
the network's input layer sees them after preprocessing (TW-D13)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from trainwell.data import Dataset
from trainwell.models.tabular import TabularNet
from trainwell.preprocess import FeatureEncoder, TabularInput, embedding_dim
from trainwell.split import Splits

SPLITS = ("train", "validation", "test")


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def column_summary(ds: Dataset, groups: Sequence[str] = ()) -> list[dict[str, Any]]:
    """One entry per column the run used: role, kind, missing share, distinct values, and
    mean/std/min/median/max for numbers or the most frequent values otherwise (all rows)."""
    kinds = {c.name: c.kind for c in ds.features}
    names = [ds.target, *kinds, *[g for g in groups if g not in kinds and g != ds.target]]
    rows = []
    for name in names:
        values = ds.frame[name]
        role = "target" if name == ds.target else ("feature" if name in kinds else "group")
        kind = kinds.get(name, "regression target" if ds.task == "regression" else "label")
        if role == "group":
            kind = "group"
        entry: dict[str, Any] = {
            "name": name,
            "role": role,
            "kind": kind,
            "missing": float(values.isna().mean()),
            "distinct": int(values.nunique(dropna=True)),
        }
        numeric = pd.to_numeric(values, errors="coerce")
        if kind in {"numeric", "regression target"} and numeric.notna().any():
            entry.update(
                mean=_number(numeric.mean()),
                std=_number(numeric.std()),
                min=_number(numeric.min()),
                median=_number(numeric.median()),
                max=_number(numeric.max()),
            )
        else:
            top = values.dropna().astype(str).value_counts().head(3)
            entry["top"] = [[str(k), int(v)] for k, v in top.items()]
        group_values = ds.frame[name]
        if role == "group" and group_values.dtype.kind in "if" and group_values.nunique() > 10:
            entry["note"] = "numeric with many values: grouped into quartiles"
        rows.append(entry)
    return rows


def class_balance(ds: Dataset, splits: Splits) -> dict[str, Any] | None:
    """Rows per class in each split (classification only)."""
    if ds.classes is None:
        return None
    k = len(ds.classes)
    counts = {n: np.bincount(ds.y[splits.indices(n)], minlength=k).tolist() for n in SPLITS}
    return {"classes": [str(c) for c in ds.classes], "counts": counts}


def target_ranges(ds: Dataset, splits: Splits) -> dict[str, Any] | None:
    """The target's quartiles in each split (regression only)."""
    if ds.classes is not None:
        return None
    return {
        n: np.quantile(ds.y[splits.indices(n)], [0, 0.25, 0.5, 0.75, 1]).round(6).tolist()
        for n in SPLITS
    }


def input_names(inputs: TabularInput, encoder: FeatureEncoder) -> list[str]:
    """Names of the input layer's output columns, in order (see ``TabularInput.forward``)."""
    numeric = encoder.numeric_names
    names = list(numeric)
    names += [f"{numeric[i]} (missing)" for i in inputs.spec["indicators"]]
    categorical = encoder.categorical_names
    for column, size in zip(inputs.onehot_columns, inputs.onehot_sizes, strict=True):
        name = categorical[column]
        levels = ["(missing or unseen)", *encoder.vocab[name]][:size]
        names += [f"{name}={level}" for level in levels]
    for column in inputs.embedded_columns:
        name = categorical[column]
        size = inputs.spec["levels"][column] + 1
        names += [f"{name} [embedding {d}]" for d in range(embedding_dim(size))]
    return names


def input_sample(
    ds: Dataset,
    splits: Splits,
    encoder: FeatureEncoder,
    network: TabularNet,
    n: int,
    seed: int,
) -> dict[str, Any]:
    """``n`` random training rows: raw values, and the network's input layer output (the
    imputed, standardized, one-hot or embedded features the first hidden layer receives)."""
    train = splits.indices("train")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(train, size=min(n, len(train)), replace=False))
    raw = ds.frame.iloc[rows]
    num, cat = encoder.transform(raw.reset_index(drop=True))
    network.eval()
    with torch.no_grad():
        encoded = network.inputs(torch.from_numpy(num), torch.from_numpy(cat)).double().numpy()
    names = input_names(network.inputs, encoder)
    if len(names) != encoded.shape[1]:  # a new input layer the names do not know yet
        names = [f"input {i}" for i in range(encoded.shape[1])]
    features = [c.name for c in ds.features]
    labels = (
        [str(ds.classes[i]) for i in ds.y[rows]]
        if ds.classes is not None
        else [float(v) for v in ds.y[rows]]
    )
    return {
        "rows": [int(r) for r in rows],
        "labels": labels,
        "raw_columns": features,
        "raw": [[_display(v) for v in record] for record in raw[features].itertuples(False)],
        "encoded_columns": names,
        "encoded": np.round(encoded, 4).tolist(),
    }


def _display(value: Any) -> Any:
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return round(value, 6)
    return value if isinstance(value, int | bool) else str(value)
