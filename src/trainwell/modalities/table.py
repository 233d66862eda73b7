"""Tables: a CSV or Parquet file (or a DataFrame), one row per example.

The columns are typed (numeric, categorical, boolean, datetime) by :mod:`trainwell.data`;
the :class:`~trainwell.preprocess.FeatureEncoder` (category vocabularies) is fitted on the
training split and turns rows into two tensors, numeric values with NaN where missing and
category codes; the network's first layer imputes, standardizes and embeds them (TW-D08,
D09). The network is a residual MLP sized to the data (TW-A02, A05); the baselines are the
dummy, linear and LightGBM models (TW-A08), the last being what the guides say to beat on
tables (TW-A01).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from trainwell import streaming
from trainwell.analysis import Analysis, analyze_table
from trainwell.audit import run_audit
from trainwell.candidates import Candidate
from trainwell.config import FitConfig, Task
from trainwell.data import Dataset, build_dataset, read_table
from trainwell.data.load import file_sha256, frame_sha256
from trainwell.data.schema import ColumnSpec, check_group_columns
from trainwell.errors import DataError
from trainwell.findings import Finding
from trainwell.modalities import table_baselines as bl
from trainwell.modalities.base import Augment, DataSource, Read, Samples
from trainwell.modalities.common import BaseModality
from trainwell.models import Choice
from trainwell.models.tabular import TabularNet, init_output_bias, mlp_spec, n_outputs, size_mlp
from trainwell.preprocess import FeatureEncoder, TabularInput
from trainwell.split import Splits


def read_frame(data: DataSource) -> tuple[pd.DataFrame, str, str, str | None]:
    """A table from a DataFrame or a CSV/Parquet path: (frame, source, sha256, resolved path).

    Raises:
        DataError: an empty DataFrame, or a file that cannot be read as a table.
    """
    if isinstance(data, pd.DataFrame):
        if data.empty:
            raise DataError("the DataFrame has no rows")
        frame = data.reset_index(drop=True)
        frame.columns = [str(c) for c in frame.columns]
        return frame, "<DataFrame>", frame_sha256(data), None
    path = Path(data)
    return read_table(path), str(data), file_sha256(path), str(path.resolve())


def levels(encoding: dict[str, Any]) -> list[int]:
    """Vocabulary sizes of the categorical columns, in the encoder's order."""
    encoder = FeatureEncoder.from_json(encoding["encoder"])
    return [len(encoder.vocab[name]) for name in encoder.categorical_names]


def encoder_of(encoding: dict[str, Any]) -> FeatureEncoder:
    return FeatureEncoder.from_json(encoding["encoder"])


def table_samples(frame: pd.DataFrame, encoder: FeatureEncoder) -> Samples:
    """Raw rows encoded as the network's two input tensors."""
    num, cat = encoder.transform(frame.reset_index(drop=True))
    return Samples(
        kind="table",
        frame=frame,
        key=None,
        inputs=(torch.from_numpy(num), torch.from_numpy(cat)),
        encoding={"modality": "table", "encoder": encoder.to_json()},
    )


class TableModality(BaseModality):
    """Tables (the default when the data is a file that no other modality claims)."""

    name = "table"
    options = frozenset(
        {"model.width", "model.depth", "model.dropout", "model.activation",
         "model.embedding_threshold", "model.name", "data.drop", "data.time", "data.group",
         "data.max_classes", "data.layout", "data.streaming", "data.streaming_rows",
         "data.sample_rows"}
    )  # fmt: skip

    def claims(self, data: DataSource, cfg: FitConfig) -> bool:
        return True  # the registry asks it last

    def read(self, data: DataSource, cfg: FitConfig) -> Read:
        if streaming.streams(data, cfg):  # larger than memory: a sample, and a stream
            assert isinstance(data, str | Path)
            return self._read_streamed(Path(data), cfg)
        frame, source, sha, path = read_frame(data)
        dataset = build_dataset(frame, cfg.data, source, sha)
        check_group_columns(dataset.frame, cfg.report.groups, dataset.target)
        return Read(dataset, None, path)

    def _read_streamed(self, path: Path, cfg: FitConfig) -> Read:
        sampled = streaming.read_sample(path, cfg)
        dataset = build_dataset(sampled.frame, cfg.data, str(path), file_sha256(path))
        dataset.row_ids = sampled.row_ids  # the split hashes the row numbers (streaming)
        check_group_columns(dataset.frame, cfg.report.groups, dataset.target)
        stream = streaming.stream_for(path, dataset, cfg, sampled)
        dataset.findings.append(streaming.sample_finding(stream))
        return Read(dataset, None, str(path.resolve()), stream)

    def choose(self, read: Read, splits: Splits, cfg: FitConfig) -> Choice:
        if cfg.model.name not in {"auto", "residual_mlp"}:
            from trainwell.errors import ConfigError

            raise ConfigError(
                f"model.name={cfg.model.name!r} does not apply to a table; tables train a "
                "residual MLP (model.width, model.depth size it)"
            )
        # Sized for the rows it trains on: all of a streamed file's training rows.
        n_train = len(splits.train) if read.stream is None else read.stream.n_train
        width, depth = size_mlp(n_train, cfg.model)
        return Choice(
            "residual_mlp",
            f"residual MLP of width {width} and depth {depth} for {n_train} training "
            "rows, LayerNorm and dropout (TW-A02, A05); gradient boosting runs beside it as the "
            "baseline to beat (TW-A01, A08)",
        )

    def encode(self, read: Read, splits: Splits, choice: Choice, cfg: FitConfig) -> Samples:
        ds = read.dataset
        encoder = FeatureEncoder.fit(ds.frame.iloc[splits.train], ds.features)  # TW-D08
        samples = table_samples(ds.frame, encoder)
        samples.info = {"features": len(ds.features)}
        if read.stream is not None:  # trains on every row of the file, encoded alike
            samples.stream = replace(read.stream, encoder=encoder)
            samples.info["streaming"] = read.stream.facts()
        return samples

    def audit(
        self, dataset: Dataset, samples: Samples, splits: Splits, cfg: FitConfig
    ) -> list[Finding]:
        return run_audit(dataset, splits, config=cfg.audit, train=cfg.train, seed=cfg.seed)

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
        num, cat = (x.numpy() for x in samples.inputs)
        inputs = TabularInput.fit(
            num, cat, levels(samples.encoding), embedding_threshold=cfg.model.embedding_threshold
        )
        n_train = len(y_train) if samples.stream is None else samples.stream.n_train
        width, depth = size_mlp(n_train, cfg.model)
        head = mlp_spec(inputs.out_features, n_outputs(task, n_classes), width, depth, cfg.model)
        net = TabularNet(inputs, head, task)
        if task == "regression":
            bl.set_target_scaling(net, y_train)
        init_output_bias(net, y_train, weighted=weighted)
        return net, {"pretrained": None, "width": width, "depth": depth}

    def augmenter(self, samples: Samples, cfg: FitConfig) -> tuple[Augment | None, dict[str, Any]]:
        return None, {"enabled": False, "reason": "rows of a table are not augmented"}

    def baselines(
        self,
        train: Samples,
        validation: Samples,
        task: Task,
        n_classes: int,
        y: dict[str, np.ndarray],
        class_weights: np.ndarray | None,
        cfg: FitConfig,
    ) -> list[Candidate]:
        arrays = {
            name: bl.Arrays(s.inputs[0].numpy(), s.inputs[1].numpy(), y[name])
            for name, s in (("train", train), ("validation", validation))
        }
        sizes = levels(train.encoding)
        template = TabularInput.fit(
            arrays["train"].num,
            arrays["train"].cat,
            sizes,
            embedding_threshold=cfg.model.embedding_threshold,
            embed=False,
        )
        weights = None if class_weights is None else dict(enumerate(map(float, class_weights)))
        return [
            bl.fit_dummy(task, arrays["train"], template, n_classes),
            bl.fit_linear(
                task, arrays["train"], weights, sizes, cfg.model.embedding_threshold, cfg.seed
            ),
            bl.fit_lightgbm(
                task,
                arrays["train"],
                arrays["validation"],
                class_weights,
                cfg.baselines.lightgbm_rounds,
                cfg.seed,
            ),
        ]

    def predict_samples(self, data: DataSource, encoding: dict[str, Any], folder: Path) -> Samples:
        frame = data if isinstance(data, pd.DataFrame) else read_table(data)
        return table_samples(frame, encoder_of(encoding))

    def input_columns(self, encoding: dict[str, Any]) -> tuple[ColumnSpec, ...]:
        return encoder_of(encoding).columns

    def predict_frame(self, samples: Samples, predictions: pd.DataFrame) -> pd.DataFrame:
        predictions.index = samples.frame.index
        return predictions

    def analyze(
        self,
        dataset: Dataset,
        splits: Splits,
        samples: Samples,
        shipped: Candidate,
        network: Candidate,
        test_outputs: np.ndarray,
        cfg: FitConfig,
    ) -> Analysis:
        return analyze_table(dataset, splits, samples, shipped, network, test_outputs, cfg)
