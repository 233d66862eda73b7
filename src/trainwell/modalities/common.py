"""Pieces that the image, text and series modalities (and any new one) share: the one-row-per-
example dataset, the audit every modality starts from, the backbone-plus-head network with its
transfer learning (TW-A03, A04), and the keyed predictions table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from trainwell.analysis.record import Analysis, analyze_examples
from trainwell.audit import labels
from trainwell.candidates import Candidate
from trainwell.config import FitConfig, Task
from trainwell.data import Dataset, build_dataset
from trainwell.data.schema import ColumnSpec
from trainwell.errors import ConfigError, RunError
from trainwell.features import FeatureMap
from trainwell.findings import Finding
from trainwell.modalities.base import Samples
from trainwell.models import Choice, ModalityNet, Standardize
from trainwell.models.transfer import load_weights
from trainwell.split import Splits

# The options every backbone-plus-head modality reads (see Modality.options).
NETWORK_OPTIONS = frozenset(
    {"model.name", "model.pretrained", "model.download", "model.dropout", "model.freeze_epochs",
     "model.unfreeze_every", "model.fine_tune", "model.layer_lr_decay",
     "model.gradient_checkpointing", "augment.enabled", "data.max_classes"}
)  # fmt: skip


def rows_dataset(
    frame: pd.DataFrame, cfg: FitConfig, source: str, sha: str, key: str | None = None
) -> Dataset:
    """One dataset row per example (the target and the example's ``key``: a path, a series
    id); the table splitters, the manifest and the sealed test set work on it as on any
    table."""
    data_cfg = cfg.data.model_copy(update={"time": None, "drop": []})
    return build_dataset(frame, data_cfg, source, sha, keys=(key,) if key else ())


def check_weights_file(cfg: FitConfig) -> None:
    """``model.pretrained`` must exist on this machine (nothing downloads unless asked).

    Raises:
        ConfigError: the file or folder is missing.
    """
    pretrained = cfg.model.pretrained
    if pretrained is not None and not Path(pretrained).exists():
        raise ConfigError(
            f"pre-trained weights {pretrained!r} not found offline; pass model.pretrained=PATH "
            "to a local file or folder, or leave it unset to train from scratch"
        )


def base_audit(dataset: Dataset, samples: Samples, cfg: FitConfig) -> list[Finding | None]:
    """What every modality's audit starts from: reading problems and class imbalance."""
    found: list[Finding | None] = [*dataset.findings, *samples.findings]
    if dataset.is_classification:
        assert dataset.classes is not None
        found.append(
            labels.check_class_imbalance(
                dataset.y, dataset.classes, cfg.train.class_weights, cfg.train.imbalance_ratio
            )
        )
    return found


def backbone_network(
    backbone: torch.nn.Module,
    choice: Choice,
    samples: Samples,
    task: Task,
    n_classes: int,
    y_train: np.ndarray,
    cfg: FitConfig,
    transfer: dict[str, Any] | None = None,
) -> tuple[ModalityNet, dict[str, Any]]:
    """Backbone → dropout → head, its standardization fitted on the training split (TW-D08)
    and its output started at the prior (TW-A07). Pre-trained weights from a file
    (``choice.pretrained``) are loaded into the backbone (TW-A03) unless the backbone came
    with its own (``transfer`` given)."""
    if transfer is None:
        transfer = {"pretrained": None}
        if choice.pretrained is not None:
            loaded = load_weights(backbone, choice.pretrained)
            transfer = {"pretrained": choice.pretrained, **loaded}
    net = ModalityNet(backbone, task, n_classes, cfg.model.dropout)
    for module in net.modules():
        if isinstance(module, Standardize):
            module.fit(samples.inputs[0])
    net.init_output(y_train)
    return net, transfer


def keyed_predictions(samples: Samples, predictions: pd.DataFrame) -> pd.DataFrame:
    """The predictions with the column that names each example (path, series id) first."""
    assert samples.key is not None
    predictions.insert(0, samples.key, samples.keys().to_numpy())
    return predictions


class BaseModality:
    """Defaults for the parts of the :class:`~trainwell.modalities.base.Modality` contract
    that most modalities share; a modality overrides what it does differently."""

    name = "base"

    def export(self, encoding: dict[str, Any], folder: Path) -> tuple[dict[str, Any], list[Path]]:
        """Files the shipped model needs besides its weights (written into ``folder``), and
        the encoding to record: by default none, and the encoding as it is."""
        return encoding, []

    def input_columns(self, encoding: dict[str, Any]) -> tuple[ColumnSpec, ...] | None:
        """By default the input is not one row of columns (not servable row by row)."""
        return None

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
        """The report's extras: split summary, test predictions named by each example's key
        (path, text, series id), per-group metrics (TW-E03, E04)."""
        keys = dataset.frame.drop(columns=[dataset.target])
        return analyze_examples(dataset, splits, keys, test_outputs, cfg)

    def load_features(self, spec: dict[str, Any]) -> FeatureMap:
        """The baseline feature map saved as ``spec`` (see ``FeatureMap.to_json``).

        Raises:
            RunError: this modality has no feature map of that name.
        """
        raise RunError(f"the {self.name} modality has no baseline features {spec.get('name')!r}")
