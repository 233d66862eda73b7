"""Reading, splitting and auditing image, text and series data, before any file is written.

The counterpart of :func:`trainwell.pipeline.prepare` for the other modalities: the examples
become one table row each (a :class:`~trainwell.data.Dataset`), so the splitters, the
manifest and the sealed test set are the tabular ones; the audit adds the modality's checks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

import numpy as np
import pandas as pd

from trainwell.audit import labels, stop_on_errors
from trainwell.config import FitConfig
from trainwell.data import Dataset, build_dataset, read_table
from trainwell.data.load import file_sha256
from trainwell.errors import ConfigError, DataError, did_you_mean
from trainwell.findings import Finding, sort_findings
from trainwell.modalities import image, series, text
from trainwell.modalities.base import Samples
from trainwell.models import SERIES, Choice, Modality, choose_architecture
from trainwell.models.transfer import text_source
from trainwell.models.vision import import_timm
from trainwell.split import Splits, make_splits


@dataclass
class ModalPrepared:
    """Everything checked before a run directory is made (see ``pipeline.Prepared``)."""

    cfg: FitConfig
    dataset: Dataset
    splits: Splits
    data_path: str | None
    findings: list[Finding]
    samples: Samples
    choice: Choice
    audit_seconds: float = 0.0


def modality_of(data: object, cfg: FitConfig) -> Modality | None:
    """``image`` for a folder, ``text`` with ``data.text``, ``series`` with ``data.series``,
    None for a table."""
    if cfg.data.text is not None and cfg.data.series is not None:
        raise DataError("pass either --text or --series, not both")
    if isinstance(data, str | Path) and Path(data).is_dir():
        return "image"
    if cfg.data.text is not None:
        return "text"
    if cfg.data.series is not None:
        return "series"
    return None


def folder_sha256(folder: Path, paths: list[str]) -> str:
    """A content hash of the image files (names relative to the folder, then bytes)."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(Path(path).relative_to(folder)).encode())
        digest.update(bytes.fromhex(file_sha256(Path(path))))
    return digest.hexdigest()


def _rows_dataset(frame: pd.DataFrame, cfg: FitConfig, source: str, sha: str) -> Dataset:
    data_cfg = cfg.data.model_copy(update={"time": None, "drop": []})
    return build_dataset(frame, data_cfg, source, sha)


def _table(data: str | Path | pd.DataFrame) -> tuple[pd.DataFrame, str, str, str | None]:
    from trainwell.data.load import frame_sha256

    if isinstance(data, pd.DataFrame):
        if data.empty:
            raise DataError("the DataFrame has no rows")
        frame = data.reset_index(drop=True)
        frame.columns = [str(c) for c in frame.columns]
        return frame, "<DataFrame>", frame_sha256(frame), None
    path = Path(data)
    return read_table(path), str(data), file_sha256(path), str(path.resolve())


def prepare_modality(
    data: str | Path | pd.DataFrame, cfg: FitConfig, kind: Modality, *, block: bool = True
) -> ModalPrepared:
    """Read, split and audit; nothing is written.

    Raises:
        DataError: unusable data (one line); ConfigError for an unknown architecture or
            missing weights; LeakageError for a blocking audit finding.
    """
    check_model_options(kind, cfg)
    dataset, read, path = _read(data, cfg, kind)
    splits = make_splits(dataset, cfg.split, cfg.seed)
    weights = (
        text_source(cfg.model.name, cfg.model.pretrained, cfg.model.download)
        if kind == "text" and cfg.model.name != "bag_of_embeddings"
        else None
    )
    choice = choose_architecture(
        kind,
        cfg.model.name,
        n_train=len(splits.train),
        image_side=max(read.inputs[0].shape[2:]) if read is not None and kind == "image" else 0,
        pretrained=cfg.model.pretrained,
        text_weights=weights,
    )
    if read is None:  # text: tokenized now that the split (and the encoder) is known
        if choice.name != "bag_of_embeddings" and choice.pretrained is None:
            raise ConfigError(
                f"pre-trained text encoder {choice.name!r} not found offline; pass "
                "model.pretrained=FOLDER, allow a download with model.download=true, or "
                "train from scratch with model.name=bag_of_embeddings"
            )
        source = choice.pretrained if choice.name != "bag_of_embeddings" else None
        read = text.load(dataset.frame, cfg, train_rows=splits.train, encoder_source=source)
    start = perf_counter()
    findings = audit_modality(read, dataset, splits, cfg)
    if block:
        stop_on_errors(findings, cfg.audit.allow)
    return ModalPrepared(cfg, dataset, splits, path, findings, read, choice, perf_counter() - start)


def _read(
    data: str | Path | pd.DataFrame, cfg: FitConfig, kind: Modality
) -> tuple[Dataset, Samples | None, str | None]:
    """The examples as a one-row-per-example dataset, and their samples (text: None yet)."""
    if kind == "image":
        folder = Path(str(data))
        if not cfg.data.target:
            cfg.data.target = image.LABEL
        samples = image.load(folder, cfg)
        sha = folder_sha256(folder, samples.frame[image.PATH].tolist())
        return _rows_dataset(samples.frame, cfg, str(data), sha), samples, str(folder.resolve())
    frame, source, sha, path = _table(data)
    if kind == "text":
        assert cfg.data.text is not None
        text.read_texts(frame, cfg.data.text)  # a clear error for a missing column
        if cfg.data.target and cfg.data.target in frame.columns:
            frame = frame.loc[frame[cfg.data.target].notna()].reset_index(drop=True)
        keep = [c for c in (cfg.data.text, cfg.data.target, cfg.data.group) if c]
        columns = [c for c in keep if c in frame.columns]
        return _rows_dataset(frame[columns], cfg, source, sha), None, path
    if cfg.data.group is not None:
        raise DataError("--group does not apply to series: each series is one example")
    samples = series.load(frame, cfg)
    has_label = samples.frame[cfg.data.target].notna().to_numpy()
    samples.frame = samples.frame.loc[has_label].reset_index(drop=True)
    samples.inputs = samples.select(np.flatnonzero(has_label))
    table = samples.frame[[samples.key, cfg.data.target]]
    return _rows_dataset(table, cfg, source, sha), samples, path


def check_model_options(kind: Modality, cfg: FitConfig) -> None:
    """Unknown architectures and missing weight files fail here, before any file is written.

    Raises:
        ConfigError: one line naming what is wrong and what to type instead.
    """
    name, pretrained = cfg.model.name, cfg.model.pretrained
    if pretrained is not None and not Path(pretrained).exists():
        raise ConfigError(
            f"pre-trained weights {pretrained!r} not found offline; pass model.pretrained=PATH "
            "to a local file or folder, or leave it unset to train from scratch"
        )
    if kind == "series" and name not in {"auto", *SERIES}:
        raise ConfigError(
            f"unknown series architecture model.name={name!r}{did_you_mean(name, SERIES)}; "
            f"choose {', '.join(SERIES)}"
        )
    if kind == "image" and name not in {"auto", "small_cnn"}:
        timm = import_timm()
        if name not in timm.list_models():
            raise ConfigError(
                f"unknown image architecture model.name={name!r}"
                f"{did_you_mean(name, timm.list_models())}; try small_cnn, resnet18 or "
                "efficientnet_b0"
            )


def audit_modality(
    samples: Samples, dataset: Dataset, splits: Splits, cfg: FitConfig
) -> list[Finding]:
    """The modality's audit: reading problems, labels and leakage across splits."""
    limit, share = cfg.audit.evidence_limit, cfg.audit.shared_rows_error_fraction
    found: list[Finding | None] = [*dataset.findings, *samples.findings]
    if dataset.is_classification:
        assert dataset.classes is not None
        found.append(
            labels.check_class_imbalance(
                dataset.y, dataset.classes, cfg.train.class_weights, cfg.train.imbalance_ratio
            )
        )
    if samples.kind == "image":
        found.append(image.check_near_duplicates(samples, splits, share, limit))
    elif samples.kind == "text":
        found.append(text.check_empty(samples, limit))
        found.append(text.check_near_duplicates(samples, splits, share, limit))
    else:
        found.extend(series.check_lengths_and_sampling(samples, limit))
    return sort_findings([f for f in found if f is not None])
