"""Time series: a long table with one row per time step (``--series id --time t``).

Rows of one series id are ordered by ``--time``; the numeric columns other than the id, the
time and the target are its channels; the label is the series' target (constant within it).
Series are cropped or end-padded (with their last value) to one length (``series.length``,
else the longest). Series of different lengths or sampling intervals are audit findings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from trainwell.config import FitConfig, SeriesOptions, Task
from trainwell.data import read_table
from trainwell.errors import ConfigError, DataError, did_you_mean, require_column
from trainwell.findings import Finding
from trainwell.modalities.base import Augment, DataSource, Inputs, Read, Samples
from trainwell.modalities.common import (
    NETWORK_OPTIONS,
    BaseModality,
    backbone_network,
    check_weights_file,
    keyed_predictions,
    rows_dataset,
)
from trainwell.modalities.table import read_frame
from trainwell.models import SERIES, Choice, build_backbone, choose_architecture
from trainwell.split import Splits


def _channels(frame: pd.DataFrame, exclude: set[str | None]) -> list[str]:
    return [
        c
        for c in frame.columns
        if c not in exclude
        and pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
    ]


def load(
    frame: pd.DataFrame, cfg: FitConfig, *, for_predict: dict[str, Any] | None = None
) -> Samples:
    """One example per series id: the (length, channels) values and the series' label.

    Raises:
        DataError: a missing column, no numeric channel, or a label that changes within a
            series.
    """
    enc = for_predict or {}
    sid = enc.get("series") or cfg.data.series
    time = enc.get("time", cfg.data.time)
    target = cfg.data.target
    assert sid is not None
    require_column(frame.columns, sid, "--series")
    if time is not None:
        require_column(frame.columns, time, "--time")
    if for_predict is None:
        require_column(frame.columns, target, "target")
        channels = _channels(frame, {sid, time, target, *cfg.data.drop})
        if not channels:
            raise DataError(
                f"no numeric columns to use as series values besides {sid!r}, {time!r} and "
                f"{target!r}; the series need at least one numeric column"
            )
    else:
        channels = enc["channels"]
        for c in channels:
            require_column(frame.columns, c, "series value")
    frame = frame.loc[frame[sid].notna()]
    if time is not None:
        frame = frame.sort_values([sid, time], kind="stable")
    groups = frame.groupby(sid, sort=True)
    ids = list(groups.groups)
    lengths = groups.size().to_numpy()
    length = int(enc.get("length") or cfg.series.length or lengths.max())
    if length < 2:
        raise DataError(
            f"every series has a single time step (one row per {sid!r}); a series model "
            f"needs at least 2 steps: drop --series to treat the rows as a table"
        )
    values = np.zeros((len(ids), length, len(channels)), dtype=np.float32)
    labels, steps = [], []
    mixed: list[Any] = []
    for i, (key, rows) in enumerate(groups):
        data = rows[channels].to_numpy(dtype=np.float32, na_value=np.nan)
        data = pd.DataFrame(data).ffill().bfill().fillna(0.0).to_numpy(dtype=np.float32)
        n = min(len(data), length)
        values[i, :n] = data[:n]
        values[i, n:] = data[n - 1]  # end-padded with the last value
        if for_predict is None:
            label = rows[target].dropna().unique()
            if len(label) > 1:
                mixed.append(key)
            labels.append(label[0] if len(label) else None)
        if time is not None and len(rows) > 1:
            stamps = rows[time]
            if not pd.api.types.is_numeric_dtype(stamps):
                stamps = pd.to_datetime(stamps, errors="coerce", format="ISO8601")
                delta = stamps.diff().dropna().dt.total_seconds().to_numpy()
            else:
                delta = stamps.diff().dropna().to_numpy(dtype=float)
            steps.append(float(np.median(delta)) if len(delta) else np.nan)
        else:
            steps.append(np.nan)
    if mixed:
        raise DataError(
            f"the target {target!r} changes within series {mixed[0]!r} ({len(mixed)} series "
            "in all); one series has one label: fix the labels or the --series column"
        )
    table = pd.DataFrame({sid: ids, "length": lengths, "step": steps})
    if for_predict is None:
        table[target] = labels
    encoding = {
        "modality": "series", "series": sid, "time": time, "channels": channels,
        "length": length,
    }  # fmt: skip
    return Samples(
        kind="series",
        frame=table,
        key=sid,
        inputs=(torch.from_numpy(values),),
        encoding=encoding,
        info={"series": len(ids), "length": length, "channels": channels},
        extras={"lengths": lengths},
    )


def check_lengths_and_sampling(samples: Samples, limit: int) -> list[Finding]:
    """Series of different lengths, or sampled at different intervals (TW-D01)."""
    table, length = samples.frame, samples.encoding["length"]
    found = []
    lengths = table["length"]
    if lengths.nunique() > 1:
        cropped = int((lengths > length).sum())
        padded = int((lengths < length).sum())
        found.append(
            Finding(
                id="inconsistent-series-lengths",
                practice="TW-D01",
                severity="warning",
                stage="audit",
                message=f"Series lengths range from {lengths.min()} to {lengths.max()} steps "
                f"(median {lengths.median():g}); {padded} were padded with their last value "
                f"and {cropped} cropped to {length}.",
                evidence={
                    "min": int(lengths.min()),
                    "max": int(lengths.max()),
                    "median": float(lengths.median()),
                    "used": length,
                    "shortest": table.nsmallest(limit, "length")[samples.key].tolist(),
                },
                fix="Resample or window the series to one length yourself, or set series.length=N.",
            )
        )
    steps = table["step"].dropna()
    if len(steps) > 1 and steps.nunique() > 1:
        ratio = float(steps.max() / max(steps.min(), 1e-12))
        if ratio > 1.1:
            odd = table.loc[(table["step"] - steps.median()).abs() > 0.1 * abs(steps.median())]
            found.append(
                Finding(
                    id="inconsistent-series-sampling",
                    practice="TW-D01",
                    severity="warning",
                    stage="audit",
                    message=f"Series are sampled at different intervals (median step from "
                    f"{steps.min():g} to {steps.max():g}); the network sees steps, not time, "
                    "so equal positions mean different times.",
                    evidence={
                        "median_step": float(steps.median()),
                        "series": odd[samples.key].tolist()[:limit],
                    },
                    fix="Resample every series to one interval before training "
                    "(pandas: df.resample).",
                )
            )
    return found


def augmenter(
    cfg: SeriesOptions, samples: Samples, enabled: bool = True
) -> tuple[Augment | None, dict[str, Any]]:
    """Jitter, amplitude scaling and window cropping for training batches (TW-D10)."""
    if not enabled:
        return None, {"enabled": False}
    x_all = samples.inputs[0]
    channel_std = x_all.reshape(-1, x_all.shape[2]).std(dim=0).clamp_min(1e-6)
    length = x_all.shape[1]
    window = max(2, round(cfg.window * length))

    def augment(inputs: Inputs, gen: torch.Generator) -> Inputs:
        x = inputs[0]
        n = x.shape[0]
        if window < length:
            # A random window, stretched back to the full length (linear interpolation).
            start = torch.randint(0, length - window + 1, (n,), generator=gen)
            idx = start[:, None] + torch.arange(window)[None]
            crop = torch.gather(x, 1, idx[:, :, None].expand(-1, -1, x.shape[2]))
            x = torch.nn.functional.interpolate(
                crop.transpose(1, 2), size=length, mode="linear", align_corners=True
            ).transpose(1, 2)
        if cfg.scale:
            x = x * (1 + (torch.rand(n, 1, x.shape[2], generator=gen) * 2 - 1) * cfg.scale)
        if cfg.jitter:
            x = x + torch.randn(x.shape, generator=gen) * channel_std * cfg.jitter
        return (x,)

    return augment, {"jitter": cfg.jitter, "scale": cfg.scale, "window": window}


class SeriesStats:
    """Per-channel mean, standard deviation, minimum, maximum and slope: the linear
    baseline's features (TW-A08)."""

    def transform(self, samples: Samples) -> np.ndarray:
        x = samples.inputs[0].numpy()
        t = np.linspace(-1, 1, x.shape[1])[None, :, None]
        slope = (x * t).mean(axis=1) / (t**2).mean()
        return np.concatenate([x.mean(1), x.std(1), x.min(1), x.max(1), slope], axis=1)

    def to_json(self) -> dict[str, Any]:
        return {"name": "series_stats"}

    def module(self) -> torch.nn.Module:
        """The same features as a torch module of the series tensor (for export)."""
        return _SeriesStatsModule()


class _SeriesStatsModule(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.float64)
        t = torch.linspace(-1, 1, x.shape[1], dtype=torch.float64)[None, :, None]
        slope = (x * t).mean(dim=1) / (t**2).mean()
        parts = [x.mean(1), x.std(1, correction=0), x.amin(1), x.amax(1), slope]
        return torch.cat(parts, dim=1)


class SeriesModality(BaseModality):
    """A long table, one row per time step: ``--series ID --time T``; one label per series."""

    name = "series"
    options = NETWORK_OPTIONS | {
        "series.length", "data.series", "data.time", "data.drop", "series.jitter",
        "series.scale", "series.window",
    }  # fmt: skip

    def claims(self, data: DataSource, cfg: FitConfig) -> bool:
        return cfg.data.series is not None

    def read(self, data: DataSource, cfg: FitConfig) -> Read:
        check_weights_file(cfg)
        name = cfg.model.name
        if name not in {"auto", *SERIES}:
            raise ConfigError(
                f"unknown series architecture model.name={name!r}{did_you_mean(name, SERIES)}; "
                f"choose {', '.join(SERIES)}"
            )
        if cfg.data.group is not None:
            raise DataError("--group does not apply to series: each series is one example")
        if cfg.report.groups:
            raise ConfigError(
                "--groups is not supported for series yet: one series is one example, and a "
                "group column would have to be constant within each series; use it on tables"
            )
        frame, source, sha, path = read_frame(data)
        samples = load(frame, cfg)
        has_label = samples.frame[cfg.data.target].notna().to_numpy()
        samples.frame = samples.frame.loc[has_label].reset_index(drop=True)
        samples.inputs = samples.select(np.flatnonzero(has_label))
        assert samples.key is not None
        table = samples.frame[[samples.key, cfg.data.target]]
        return Read(rows_dataset(table, cfg, source, sha, samples.key), samples, path)

    def choose(self, read: Read, splits: Splits, cfg: FitConfig) -> Choice:
        return choose_architecture(
            "series", cfg.model.name, n_train=len(splits.train), pretrained=cfg.model.pretrained
        )

    def audit_checks(
        self, samples: Samples, splits: Splits, cfg: FitConfig
    ) -> list[Finding | None]:
        return list(check_lengths_and_sampling(samples, cfg.audit.evidence_limit))

    def build_network(
        self,
        samples: Samples,
        choice: Choice,
        task: Task,
        n_classes: int,
        y_train: np.ndarray,
        weighted: bool,
        cfg: FitConfig,
    ) -> tuple[torch.nn.Module, dict[str, Any]]:
        x = samples.inputs[0]
        spec: dict[str, Any] = {"name": choice.name, "channels": int(x.shape[2])}
        if choice.name == "transformer":
            spec["length"] = int(x.shape[1])
        backbone = build_backbone(spec)
        return backbone_network(backbone, choice, samples, task, n_classes, y_train, cfg)

    def augmenter(self, samples: Samples, cfg: FitConfig) -> tuple[Augment | None, dict[str, Any]]:
        return augmenter(cfg.series, samples, cfg.augment.enabled)

    def baseline_features(self, train: Samples) -> SeriesStats:
        return SeriesStats()

    def predict_samples(self, data: DataSource, encoding: dict[str, Any], folder: Path) -> Samples:
        frame = data if isinstance(data, pd.DataFrame) else read_table(data)
        return load(frame, FitConfig(), for_predict=encoding)

    def served_fields(self, encoding: dict[str, Any]) -> dict[str, str]:
        """One example is one series: per channel the list of its values, in time order."""
        return {channel: "values" for channel in encoding["channels"]}

    def served_data(
        self, encoding: dict[str, Any], examples: list[dict[str, Any]], scratch: Path | None
    ) -> DataSource:
        """The examples as the long table ``predict`` reads: one row per time step, the
        example's index as its series id (so the predictions, sorted by id, keep their order)
        and the step's index as its time.

        Raises:
            DataError: an example's channels differ in length.
        """
        channels, sid, time = encoding["channels"], encoding["series"], encoding.get("time")
        parts = []
        for i, example in enumerate(examples):
            lengths = {len(example[c]) for c in channels}
            if len(lengths) != 1:
                raise DataError(
                    f"series {i}: its channels {channels} must have equal lengths, not "
                    f"{sorted(lengths)}"
                )
            part = pd.DataFrame({c: np.asarray(example[c], dtype=float) for c in channels})
            part.insert(0, sid, i)
            if time is not None:
                part.insert(1, time, np.arange(len(part)))
            parts.append(part)
        return pd.concat(parts, ignore_index=True)

    def drift_features(self, samples: Samples) -> dict[str, tuple[str, pd.Series]]:
        """Per channel each series' mean and standard deviation (over its steps as the model
        reads them), and its length in steps before cropping or padding where it varies: a
        level shift, a louder or quieter sensor, longer recordings move these."""
        values = samples.inputs[0].double()  # (n, length, channels)
        means, stds = values.mean(dim=1).numpy(), values.std(dim=1).numpy()
        features: dict[str, tuple[str, pd.Series]] = {}
        for i, channel in enumerate(samples.encoding["channels"]):
            features[f"{channel} mean"] = ("numeric", pd.Series(means[:, i], dtype=float))
            features[f"{channel} std"] = ("numeric", pd.Series(stds[:, i], dtype=float))
        if "lengths" in samples.extras:
            features["length"] = ("numeric", pd.Series(samples.extras["lengths"], dtype=float))
        return features

    def predict_frame(self, samples: Samples, predictions: pd.DataFrame) -> pd.DataFrame:
        return keyed_predictions(samples, predictions)

    def load_features(self, spec: dict[str, Any]) -> SeriesStats:
        return SeriesStats()
