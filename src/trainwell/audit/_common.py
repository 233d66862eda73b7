"""Small helpers the audit checks share: column selection, value conversion, capped evidence."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from trainwell.data import Dataset
from trainwell.data.schema import TRUE_WORDS


def columns_of_kind(dataset: Dataset, *kinds: str) -> list[str]:
    """Names of the feature columns whose kind is one of ``kinds`` (all features if none)."""
    return [c.name for c in dataset.features if not kinds or c.kind in kinds]


def as_float(values: pd.Series) -> np.ndarray:
    """A column as float64, with anything that does not parse as a number turned into NaN."""
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def as_python(value: Any) -> Any:
    """A numpy scalar as the Python value JSON can hold."""
    return value.item() if isinstance(value, np.generic) else value


def capped(items: Iterable[Any], limit: int) -> list[Any]:
    """The first ``limit`` items as JSON-ready Python values."""
    out: list[Any] = []
    for item in items:
        if len(out) >= limit:
            break
        out.append(as_python(item))
    return out


def name_tokens(name: str) -> list[str]:
    """Lower-case words of a column name: ``"PatientID"`` and ``"patient_id"`` give patient, id."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(name))
    return [t for t in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if t]


def model_matrix(frame: pd.DataFrame, dataset: Dataset, columns: Sequence[str]) -> pd.DataFrame:
    """Feature columns in dtypes a tree model takes: floats and pandas categoricals.

    Booleans become 0/1 (``"yes"``/``"no"`` included), datetimes seconds since the epoch and
    categoricals keep their levels, so LightGBM and sklearn trees split on them natively.
    """
    kinds = {c.name: c.kind for c in dataset.features}
    out: dict[str, Any] = {}
    for name in columns:
        values = frame[name]
        kind = kinds[name]
        if kind == "numeric":
            out[name] = as_float(values)
        elif kind == "boolean":
            words = values.astype("string").str.strip().str.lower()
            out[name] = np.where(
                values.isna(), np.nan, words.isin(TRUE_WORDS).to_numpy(dtype=np.float64)
            )
        elif kind == "datetime":
            stamps = pd.to_datetime(values, errors="coerce", format="ISO8601", utc=True)
            seconds = (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
            out[name] = seconds.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            out[name] = values.astype("string").astype("category")
    return pd.DataFrame(out, index=frame.index)


# Copies of one example carry one target; feature vectors that repeat with different targets
# are values that different examples share by nature (a few discrete features: sex, class
# and age on the Titanic; a diet and a weighing day for chicks). Above this share of the
# repeated feature vectors, identical features are the data's nature, not copies.
NATURAL_REPEAT_SHARE = 0.25


def natural_repeats(dataset: Dataset, *, across_splits: bool) -> str | None:
    """Why identical feature vectors in ``dataset`` are not copies of one example, or None.

    Two reasons, each checked on the data itself: across splits, a declared group column
    (``--group``: the split keeps each group whole, so rows in different splits belong to
    different groups); and feature vectors that repeat with different targets in at least
    :data:`NATURAL_REPEAT_SHARE` of cases (the features do not identify an example). Rows
    equal in every column, a declared group's id included, are copies whatever the features
    (``across_splits=False``, the duplicate-rows check).
    """
    features = columns_of_kind(dataset)
    if dataset.group is not None:
        if not across_splits:
            return None
        return (
            f"the split keeps each {dataset.group!r} whole, so these are rows of different "
            f"{dataset.group!r} values that share feature values, not copies"
        )
    if not features:
        return None
    keys = pd.util.hash_pandas_object(dataset.frame[features], index=False).to_numpy()
    target = dataset.frame[dataset.target].astype("string").fillna("<missing>").to_numpy()
    per_vector = pd.DataFrame({"key": keys, "target": target}).groupby("key")["target"]
    sizes = per_vector.size()
    repeated = sizes.index[sizes > 1]
    if len(repeated) == 0:
        return None
    conflicting = float((per_vector.nunique()[repeated] > 1).mean())
    if conflicting < NATURAL_REPEAT_SHARE:
        return None
    return (
        f"the features do not identify an example: {conflicting:.0%} of the {len(repeated)} "
        "feature vectors that repeat in the data carry different targets (a few values "
        "that different examples share by nature), so identical features are not copies"
    )
