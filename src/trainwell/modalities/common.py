"""Pieces that the image, text and series modalities (and any new one) share: the one-row-per-
example dataset, the audit every modality starts from, the backbone-plus-head network with its
transfer learning (TW-A03, A04), and the keyed predictions table."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
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
from trainwell.errors import ConfigError, DataError, RunError
from trainwell.features import FeatureMap, fit_feature_baselines
from trainwell.findings import Finding, sort_findings
from trainwell.modalities.base import DataSource, Read, Samples
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


def write_served_files(
    examples: list[dict[str, Any]],
    field: str,
    scratch: Path | None,
    noun: str,
    suffix: Callable[[bytes], str],
) -> Path:
    """Served examples whose ``field`` is a file's bytes in base64 (an image, a sound),
    written into ``scratch`` as files named in the examples' order (``000000`` ...), which
    the modality's reader lists in sorted order; ``suffix(data)`` names each file's type.

    Raises:
        DataError: an example is not base64.
    """
    assert scratch is not None, "served_files modalities get a scratch folder"
    for i, example in enumerate(examples):
        try:
            data = base64.b64decode(example[field], validate=True)
        except (binascii.Error, ValueError):
            raise DataError(f"{noun} {i} is not base64-encoded bytes") from None
        (scratch / f"{i:06d}{suffix(data)}").write_bytes(data)
    return scratch


def keyed_predictions(samples: Samples, predictions: pd.DataFrame) -> pd.DataFrame:
    """The predictions with the column that names each example (path, series id) first."""
    assert samples.key is not None
    predictions.insert(0, samples.key, samples.keys().to_numpy())
    return predictions


class BaseModality:
    """Defaults for the parts of the :class:`~trainwell.modalities.base.Modality` contract
    that most modalities share; a modality overrides what it does differently."""

    name = "base"
    served_files = False

    def encode(self, read: Read, splits: Splits, choice: Choice, cfg: FitConfig) -> Samples:
        """By default the examples as read are already the network's tensors."""
        assert read.samples is not None
        return read.samples

    def audit(
        self, dataset: Dataset, samples: Samples, splits: Splits, cfg: FitConfig
    ) -> list[Finding]:
        """The checks every modality shares (:func:`base_audit`) and its own
        (:meth:`audit_checks`), most severe first."""
        found = [*base_audit(dataset, samples, cfg), *self.audit_checks(samples, splits, cfg)]
        return sort_findings([f for f in found if f is not None])

    def audit_checks(
        self, samples: Samples, splits: Splits, cfg: FitConfig
    ) -> list[Finding | None]:
        """The modality's own audit checks (None: a check that found nothing)."""
        return []

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
        """The dummy, linear and LightGBM baselines (TW-A08) on :meth:`baseline_features`."""
        features = self.baseline_features(train)
        return list(
            fit_feature_baselines(
                features, train, y["train"], task, n_classes, class_weights, cfg.seed
            )
        )

    def baseline_features(self, train: Samples) -> FeatureMap:
        """The features the baselines see, fitted on the training examples."""
        raise NotImplementedError(f"the {self.name} modality defines its baselines itself")

    def export(self, encoding: dict[str, Any], folder: Path) -> tuple[dict[str, Any], list[Path]]:
        """Files the shipped model needs besides its weights (written into ``folder``), and
        the encoding to record: by default none, and the encoding as it is."""
        return encoding, []

    def input_columns(self, encoding: dict[str, Any]) -> tuple[ColumnSpec, ...] | None:
        """By default the input is not one row of columns (not servable row by row)."""
        return None

    def served_fields(self, encoding: dict[str, Any]) -> dict[str, str] | None:
        """By default one field per input column (:meth:`input_columns`), typed by its kind."""
        columns = self.input_columns(encoding)
        return None if columns is None else {c.name: c.kind for c in columns}

    def served_data(
        self, encoding: dict[str, Any], examples: list[dict[str, Any]], scratch: Path | None
    ) -> DataSource:
        """By default one table row per example."""
        return pd.DataFrame.from_records(examples, columns=list(self.served_fields(encoding) or []))

    def drift_features(self, samples: Samples) -> dict[str, tuple[str, pd.Series]]:
        """By default the input columns (:meth:`input_columns`) as the examples give them,
        typed by their kind; none when the input is not one row of columns."""
        columns = self.input_columns(samples.encoding) or ()
        frame = samples.frame.reset_index(drop=True)
        return {c.name: (c.kind, frame[c.name]) for c in columns if c.name in frame.columns}

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


def hashed_near_copies(
    hashes: np.ndarray,
    same: Callable[[int, int], bool],
    splits: Splits,
    paths: Sequence[str],
    *,
    max_bits: int,
    noun: str,
    signature: str,
    error_fraction: float,
    limit: int,
    fix: str,
) -> Finding | None:
    """Validation and test examples that nearly copy a training example (TW-D06), for
    modalities that fingerprint each file (images: a perceptual hash; audio: a log-mel
    fingerprint): candidate pairs whose ``hashes`` (uint64, one per dataset row) differ in
    at most ``max_bits`` bits, each confirmed by ``same(held_out_row, train_row)`` on the
    data itself. An error above ``error_fraction`` of a split (as for table rows), else a
    warning; ``limit`` pairs of paths go in the evidence. Compared in chunks of 512 held-out
    rows, so memory stays at 512 x n_train hash distances."""
    train_hashes = hashes[splits.train]
    per_split: dict[str, Any] = {}
    for name in ("validation", "test"):
        rows = splits.indices(name)
        pairs = []
        for start in range(0, len(rows), 512):
            chunk = rows[start : start + 512]
            bits = np.bitwise_count(hashes[chunk][:, None] ^ train_hashes[None, :])
            for r, t in zip(*np.nonzero(bits <= max_bits), strict=True):
                if same(int(chunk[r]), int(splits.train[t])):
                    pairs.append((int(chunk[r]), int(splits.train[t])))
        held = sorted({p[0] for p in pairs})
        if held:
            per_split[name] = {
                f"{noun}s": len(held),
                "fraction": round(len(held) / len(rows), 6),
                "pairs": [[paths[a], paths[b]] for a, b in pairs[:limit]],
            }
    if not per_split:
        return None
    worst = max(v["fraction"] for v in per_split.values())
    counts = " and ".join(
        f"{v[noun + 's']} {s} {noun}s ({v['fraction']:.1%})" for s, v in per_split.items()
    )
    return Finding(
        id="near-duplicate-across-splits",
        practice="TW-D06",
        severity="error" if worst > error_fraction else "warning",
        stage="audit",
        message=f"{counts} are near-copies of training {noun}s ({signature}), e.g. "
        f"{next(iter(per_split.values()))['pairs'][0]}.",
        evidence={"signature": signature, "max_bits": max_bits, **per_split},
        fix=fix,
    )
