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
