"""Preprocessing fitted on the training split only, stored as JSON + tensors (TW-D08, TW-D09).

Two halves, because strings cannot enter a tensor:

* :class:`FeatureEncoder` (pandas side, JSON): turns a raw table into a float matrix of numeric
  features (NaN where missing; booleans as 0/1; datetimes expanded into calendar parts) and an
  integer matrix of category codes (0 = missing or unseen). It holds only the column schema and
  the training split's category vocabularies.
* :class:`TabularInput` (torch side, safetensors): imputes medians, adds missing-value
  indicators, standardizes with the training split's mean and standard deviation, one-hot
  encodes low-cardinality categories and embeds high-cardinality ones. It is the first layer of
  every shipped network, so predict, export and serving cannot preprocess differently.

Why not sklearn's ColumnTransformer: its fitted state can only be saved with pickle, and it
cannot run inside the model's forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from trainwell.data.guard import FLOAT32_MAX
from trainwell.data.schema import TRUE_WORDS, ColumnSpec
from trainwell.errors import DataError

DATETIME_PARTS = ("epoch_days", "year", "month", "day", "weekday", "hour")
MAX_LEVELS = 1000  # rarer levels than the 1000 most frequent share the "unseen" code


def _to_datetime(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = values
    else:
        stamps = pd.to_datetime(values, errors="coerce", format="ISO8601", utc=True)
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return stamps


def _datetime_parts(values: pd.Series) -> np.ndarray:
    stamps = _to_datetime(values)
    epoch = (stamps - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
    parts = [
        epoch,
        stamps.dt.year,
        stamps.dt.month,
        stamps.dt.day,
        stamps.dt.day_of_week,
        stamps.dt.hour,
    ]
    return np.column_stack([p.to_numpy(dtype=np.float64, na_value=np.nan) for p in parts])


@dataclass
class FeatureEncoder:
    """Raw table → (numeric float matrix with NaN, category code matrix). JSON-serializable."""

    columns: tuple[ColumnSpec, ...]
    vocab: dict[str, list[str]]

    @classmethod
    def fit(cls, frame: pd.DataFrame, columns: Sequence[ColumnSpec]) -> FeatureEncoder:
        """Learn category vocabularies from ``frame`` (the training split only)."""
        vocab = {}
        for col in columns:
            if col.kind == "categorical":
                counts = frame[col.name].dropna().astype(str).value_counts(sort=True)
                levels = sorted(counts.index[:MAX_LEVELS], key=lambda v: (-counts[v], v))
                vocab[col.name] = [str(v) for v in levels]
        return cls(tuple(columns), vocab)

    @property
    def numeric_names(self) -> list[str]:
        names: list[str] = []
        for col in self.columns:
            if col.kind == "datetime":
                names.extend(f"{col.name}.{part}" for part in DATETIME_PARTS)
            elif col.kind != "categorical":
                names.append(col.name)
        return names

    @property
    def categorical_names(self) -> list[str]:
        return [c.name for c in self.columns if c.kind == "categorical"]

    def check_columns(self, frame: pd.DataFrame) -> None:
        """Raise a DataError naming the expected columns that ``frame`` lacks."""
        missing = [c.name for c in self.columns if c.name not in frame.columns]
        if missing:
            raise DataError(
                f"the data lacks {len(missing)} column(s) the model was trained on: "
                f"{', '.join(map(repr, missing[:10]))}"
            )

    def transform(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Encode ``frame``; extra columns are ignored, missing ones are an error.

        Raises:
            DataError: a column is missing, or a numeric column holds text.
        """
        self.check_columns(frame)
        numeric: list[np.ndarray] = []
        codes: list[np.ndarray] = []
        for col in self.columns:
            encoded = self.column(col, frame[col.name])
            (codes if col.kind == "categorical" else numeric).append(encoded)
        n = len(frame)
        num = np.hstack(numeric) if numeric else np.zeros((n, 0))
        cat = np.hstack(codes) if codes else np.zeros((n, 0), dtype=np.int64)
        return num.astype(np.float32), cat.astype(np.int64)

    def column(self, col: ColumnSpec, values: pd.Series) -> np.ndarray:
        """One column of ``frame`` encoded: ``(n, width)`` float64 numbers (NaN where
        missing; a datetime's 6 calendar parts) or ``(n, 1)`` int64 category codes.

        Raises:
            DataError: a numeric column holds text.
        """
        if col.kind == "numeric":
            if not pd.api.types.is_numeric_dtype(values):
                # Only text can hold a non-number; a numeric dtype skips the check (a served
                # one-row batch spent most of its encoding time on it).
                converted = pd.to_numeric(values, errors="coerce")
                bad = values[converted.isna() & values.notna()]
                if len(bad):
                    raise DataError(
                        f"column {col.name!r} should hold numbers but row {bad.index[0]} "
                        f"holds {bad.iloc[0]!r}"
                    )
                values = converted
            array = values.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
            # ±inf and values float32 cannot hold are missing (trainwell.data.guard).
            with np.errstate(invalid="ignore"):
                array[~(np.abs(array) <= FLOAT32_MAX)] = np.nan
            return array[:, None]
        if col.kind == "boolean":
            if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
                flags = values.astype("float64")
            else:
                words = values.astype("string").str.strip().str.lower()
                flags = words.isin(TRUE_WORDS).astype("float64").where(values.notna())
            return flags.to_numpy(dtype=np.float64, na_value=np.nan)[:, None]
        if col.kind == "datetime":
            return _datetime_parts(values)
        index = {level: i + 1 for i, level in enumerate(self.vocab[col.name])}
        text = values.astype("string")
        mapped = text.map(index).astype("Float64").fillna(0)
        return mapped.to_numpy(dtype=np.int64)[:, None]

    def unexpected_values(self, frame: pd.DataFrame, limit: int = 3) -> dict[str, dict[str, Any]]:
        """Values of ``frame`` the model reads as something else, per column: categories the
        training split never had (``kind`` ``category``: encoded as unknown, code 0) and
        datetime values that do not parse (``kind`` ``datetime``: encoded as a missing date).
        Each entry: ``{"kind", "rows", "examples"}`` (up to ``limit`` examples)."""
        found: dict[str, dict[str, Any]] = {}
        for col in self.columns:
            if col.name not in frame.columns or col.kind not in {"categorical", "datetime"}:
                continue
            values = frame[col.name].dropna()
            if col.kind == "categorical":
                text = values.astype(str)
                odd = text[~text.isin(set(self.vocab[col.name]))]
                kind = "category"
            else:
                odd = values[_to_datetime(values).isna().to_numpy()].astype(str)
                kind = "datetime"
            if len(odd):
                examples = odd.value_counts().index[:limit].tolist()
                found[col.name] = {
                    "kind": kind, "rows": len(odd), "examples": [str(v) for v in examples],
                }  # fmt: skip
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": [{"name": c.name, "kind": c.kind} for c in self.columns],
            "vocab": self.vocab,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureEncoder:
        columns = tuple(ColumnSpec(c["name"], c["kind"]) for c in data["columns"])
        return cls(columns, {k: list(v) for k, v in data["vocab"].items()})


def embedding_dim(levels: int) -> int:
    """fastai's rule of thumb for embedding sizes: 1.6 * n^0.56, at most 64."""
    return int(min(64, round(1.6 * levels**0.56)))


class TabularInput(nn.Module):
    """Impute, flag missing, standardize, one-hot or embed: the model's first layer (TW-D08).

    Statistics are buffers (saved with the weights); embeddings are the only parameters.
    ``embed=False`` drops high-cardinality columns instead (for the linear baseline, which
    must be a fixed feature map).
    """

    median: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    indicator_columns: torch.Tensor

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.spec = spec
        n_num = spec["n_numeric"]
        self.register_buffer("median", torch.zeros(n_num))
        self.register_buffer("mean", torch.zeros(n_num))
        self.register_buffer("std", torch.ones(n_num))
        self.register_buffer(
            "indicator_columns", torch.tensor(spec["indicators"], dtype=torch.long)
        )
        self.onehot_columns: list[int] = []
        self.onehot_sizes: list[int] = []
        self.embedded_columns: list[int] = []
        self.embeddings = nn.ModuleList()
        for i, levels in enumerate(spec["levels"]):
            size = levels + 1  # code 0 is missing or unseen
            if levels <= spec["embedding_threshold"]:
                self.onehot_columns.append(i)
                self.onehot_sizes.append(size)
            elif spec["embed"]:
                self.embedded_columns.append(i)
                self.embeddings.append(nn.Embedding(size, embedding_dim(size)))
        dims = [embedding_dim(spec["levels"][i] + 1) for i in self.embedded_columns]
        self.out_features = n_num + len(spec["indicators"]) + sum(self.onehot_sizes) + sum(dims)

    @classmethod
    def fit(
        cls,
        num: np.ndarray,
        cat: np.ndarray,
        vocab_sizes: Sequence[int],
        *,
        embedding_threshold: int,
        embed: bool = True,
    ) -> TabularInput:
        """Compute the statistics from training-split arrays (never validation or test)."""
        missing = np.isnan(num)
        spec = {
            "n_numeric": num.shape[1],
            "indicators": [int(i) for i in np.flatnonzero(missing.any(axis=0))],
            "levels": [int(v) for v in vocab_sizes],
            "embedding_threshold": embedding_threshold,
            "embed": embed,
        }
        module = cls(spec)
        if num.shape[1]:
            with np.errstate(all="ignore"):
                median = np.nanmedian(np.where(missing.all(axis=0), 0.0, num), axis=0)
            filled = np.where(missing, median, num).astype(np.float64)
            std = filled.std(axis=0)
            module.median.copy_(torch.from_numpy(median.astype(np.float32)))
            module.mean.copy_(torch.from_numpy(filled.mean(axis=0).astype(np.float32)))
            # A constant column has no scale; leave it unscaled rather than divide by zero.
            module.std.copy_(torch.from_numpy(np.where(std > 1e-12, std, 1.0).astype(np.float32)))
        return module

    def forward(self, num: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
        parts = []
        if num.shape[1]:
            isnan = torch.isnan(num)
            filled = torch.where(isnan, self.median, num)
            parts.append((filled - self.mean) / self.std)
            if self.indicator_columns.numel():
                parts.append(isnan[:, self.indicator_columns].to(num.dtype))
        for column, size in zip(self.onehot_columns, self.onehot_sizes, strict=True):
            parts.append(nn.functional.one_hot(cat[:, column], size).to(num.dtype))
        for column, embedding in zip(self.embedded_columns, self.embeddings, strict=True):
            parts.append(embedding(cat[:, column]))
        return torch.cat(parts, dim=1)
