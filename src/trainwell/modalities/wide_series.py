"""Series in wide form: a table whose numeric columns are one ordered signal (TW-A01).

Sensor and spectrum datasets often come as one row per example and one column per time step
(``t0, t1, ..., t139``; ``att1 ... att500``). Read as a table, each step becomes an unrelated
feature and the order, the strongest prior the data has, is lost; read as a series, a
convolutional network sees the shape. :func:`find_signal` recognizes the layout from the data:
columns whose names share a stem and differ by a consecutive index, in that order, whose
neighbours are strongly correlated (a signal changes little from one step to the next; unrelated
features do not). Such a table trains the series architecture (a temporal CNN by default) and
the audit says so; ``data.layout=table`` keeps it a table.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from trainwell.audit import run_audit
from trainwell.config import FitConfig
from trainwell.data import Dataset, build_dataset, read_table
from trainwell.data.schema import check_group_columns
from trainwell.errors import DataError
from trainwell.findings import Finding, sort_findings
from trainwell.modalities.base import DataSource, Read, Samples
from trainwell.modalities.series import SeriesModality
from trainwell.modalities.table import read_frame
from trainwell.split import Splits

NAME = re.compile(r"^(?P<stem>.*?)[ _.\-]?(?P<index>\d+)$")
# At least this many indexed columns, making up this share of the non-target columns ...
MIN_STEPS = 16
MIN_SHARE = 0.9
# ... whose neighbours correlate at least this much (median over neighbouring pairs).
MIN_NEIGHBOUR_CORRELATION = 0.5
# Rows used to measure the correlations.
SAMPLE_ROWS = 2_000


def find_signal(frame: pd.DataFrame, exclude: set[str]) -> tuple[list[str], float] | None:
    """The columns of ``frame`` that form one ordered signal, and their neighbours' median
    correlation; None when the table is not a series in wide form."""
    columns = [c for c in frame.columns if c not in exclude]
    if len(columns) < MIN_STEPS:
        return None
    by_stem: dict[str, list[tuple[int, str]]] = {}
    for column in columns:
        match = NAME.match(str(column))
        if match is not None and pd.api.types.is_numeric_dtype(frame[column]):
            by_stem.setdefault(match["stem"], []).append((int(match["index"]), column))
    if not by_stem:
        return None
    _stem, indexed = max(by_stem.items(), key=lambda item: len(item[1]))
    indexed.sort()
    numbers = [i for i, _ in indexed]
    consecutive = numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    if len(indexed) < MIN_STEPS or len(indexed) < MIN_SHARE * len(columns) or not consecutive:
        return None
    signal = [c for _, c in indexed]
    values = frame[signal].head(SAMPLE_ROWS).to_numpy(dtype=np.float64, na_value=np.nan)
    values = pd.DataFrame(values).ffill(axis=1).bfill(axis=1).to_numpy()
    a, b = values[:, :-1], values[:, 1:]
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (a * b).sum(axis=0) / np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
    corr = corr[np.isfinite(corr)]
    if not len(corr) or float(np.median(corr)) < MIN_NEIGHBOUR_CORRELATION:
        return None
    return signal, float(np.median(corr))


def _column_names(data: DataSource) -> list[str]:
    """The column names, reading no more than the header (or the Parquet schema)."""
    if isinstance(data, pd.DataFrame):
        return [str(c) for c in data.columns]
    path = Path(data)
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        return [str(c) for c in pd.read_csv(path, nrows=0, sep=None, engine="python").columns]
    except (OSError, ValueError, csv.Error, pd.errors.ParserError):
        return []  # unreadable here: the table reader gives the one-line error


def _head(data: DataSource) -> pd.DataFrame:
    """The first :data:`SAMPLE_ROWS` rows (what :func:`find_signal` looks at), read no
    further."""
    if isinstance(data, pd.DataFrame):
        head = data.head(SAMPLE_ROWS)
        head.columns = [str(c) for c in head.columns]
        return head
    return read_table(data, nrows=SAMPLE_ROWS)


def _values(frame: pd.DataFrame, columns: list[str]) -> torch.Tensor:
    """(n, steps, 1) float32; a missing step takes its neighbour's value."""
    values = frame[columns].apply(pd.to_numeric, errors="coerce")
    filled = values.ffill(axis=1).bfill(axis=1).fillna(0.0).to_numpy(dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(filled[:, :, None]))


class WideSeriesModality(SeriesModality):
    """A table whose feature columns are one ordered signal: trained as a series."""

    name = "wide_series"
    options = (SeriesModality.options - {"data.series", "data.time", "series.length"}) | {
        "data.layout", "data.group", "data.drop"
    }  # fmt: skip

    def claims(self, data: DataSource, cfg: FitConfig) -> bool:
        if cfg.data.layout == "table" or cfg.data.text or cfg.data.series:
            return False
        if isinstance(data, str | Path) and Path(data).is_dir():
            return False
        names = _column_names(data)
        if cfg.data.layout == "auto" and sum(bool(NAME.match(str(n))) for n in names) < MIN_STEPS:
            return False  # cheap: the header alone rules most tables out
        # The first SAMPLE_ROWS rows decide (find_signal reads no more): a file larger than
        # memory with indexed column names is never read whole here.
        exclude = {cfg.data.target, cfg.data.group, cfg.data.time, *cfg.data.drop}
        found = find_signal(_head(data), {c for c in exclude if c})
        if cfg.data.layout == "wide_series" and found is None:
            raise DataError(
                "data.layout=wide_series: no run of >= 16 numeric columns named STEM<index> "
                "with strongly correlated neighbours; leave data.layout=auto for a table"
            )
        return found is not None

    def read(self, data: DataSource, cfg: FitConfig) -> Read:
        frame, source, sha, path = read_frame(data)
        exclude = {c for c in (cfg.data.target, cfg.data.group, cfg.data.time) if c}
        found = find_signal(frame, exclude | set(cfg.data.drop) | set(cfg.report.groups))
        if found is None:  # the first rows looked like one signal; the whole table does not
            raise DataError(
                f"the first {SAMPLE_ROWS} rows read as a series in wide form but the whole "
                "table does not (a signal column holds text further down?); fix the column "
                "or train it as a table: data.layout=table"
            )
        signal, correlation = found
        ignored = [c for c in frame.columns if c not in {*signal, *exclude}]
        check_group_columns(frame, cfg.report.groups, cfg.data.target)
        others = [cfg.data.target, cfg.data.group, *cfg.report.groups]
        keep = list(dict.fromkeys([*signal, *[c for c in others if c]]))
        data_cfg = cfg.data.model_copy(update={"time": None, "drop": []})
        dataset = build_dataset(frame[keep], data_cfg, source, sha)
        samples = Samples(
            kind=self.name,
            frame=dataset.frame,
            key=None,
            inputs=(_values(dataset.frame, signal),),
            encoding={
                "modality": self.name,
                "columns": signal,
                "length": len(signal),
                "channels": ["value"],
            },
            info={"series": dataset.n_rows, "length": len(signal), "channels": ["value"]},
            findings=[_detected(signal, correlation, ignored)],
        )
        return Read(dataset, samples, path)

    def audit(
        self, dataset: Dataset, samples: Samples, splits: Splits, cfg: FitConfig
    ) -> list[Finding]:
        found = [*samples.findings, *run_audit(dataset, splits, config=cfg.audit, seed=cfg.seed)]
        return sort_findings(found)

    def served_fields(self, encoding: dict[str, Any]) -> dict[str, str]:
        """One example is one row: a number per time-step column."""
        return {column: "numeric" for column in encoding["columns"]}

    def served_data(
        self, encoding: dict[str, Any], examples: list[dict[str, Any]], scratch: Path | None
    ) -> DataSource:
        return pd.DataFrame.from_records(examples, columns=encoding["columns"])

    def predict_samples(self, data: DataSource, encoding: dict[str, Any], folder: Path) -> Samples:
        frame = data if isinstance(data, pd.DataFrame) else read_table(data)
        missing = [c for c in encoding["columns"] if c not in frame.columns]
        if missing:
            raise DataError(
                f"the data lacks {len(missing)} of the signal's columns the model was trained "
                f"on: {', '.join(map(repr, missing[:10]))}"
            )
        inputs = (_values(frame, encoding["columns"]),)
        return Samples(self.name, frame, None, inputs, encoding)

    def predict_frame(self, samples: Samples, predictions: pd.DataFrame) -> pd.DataFrame:
        predictions.index = samples.frame.index
        return predictions


def _detected(signal: list[str], correlation: float, ignored: list[str]) -> Finding:
    left = f"; {len(ignored)} other column(s) are left out: {ignored[:5]}" if ignored else ""
    return Finding(
        id="wide-series-detected",
        practice="TW-A01",
        severity="info",
        stage="audit",
        message=f"The {len(signal)} columns {signal[0]} ... {signal[-1]} form one ordered "
        f"signal (neighbouring columns correlate {correlation:.2f} at the median): trained "
        f"as a time series (temporal CNN) rather than as unrelated table columns{left}.",
        evidence={
            "columns": len(signal),
            "first": signal[0],
            "last": signal[-1],
            "neighbour_correlation": round(correlation, 4),
            "ignored": ignored[:20],
        },
        fix="Nothing to do; to train it as a table instead: data.layout=table.",
    )
