"""Every default trainwell uses, in one place, as typed and validated config models.

The CLI and the Python API both build a :class:`FitConfig` the same way: defaults, then a
config file (TOML or JSON), then ``key.sub=value`` overrides. Each default is a best practice
and cites its practice ID from PRACTICES.md.

Example:
    >>> cfg = build_config(overrides=["train.lr=3e-4", "model.dropout=0.3"])
    >>> cfg.train.lr, cfg.model.dropout
    (0.0003, 0.3)
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from trainwell.errors import ConfigError, did_you_mean

Task = Literal["binary", "multiclass", "regression"]


def _comma_list(value: Any) -> Any:
    """Let list keys be written ``a,b`` on the command line as well as ``["a", "b"]``."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


class _Section(BaseModel):
    # Unknown keys are errors, never silently ignored (a misspelt key would otherwise be a no-op).
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Section):
    target: str = ""
    # "classification" lets trainwell pick binary or multiclass from the number of classes.
    task: Literal["auto", "classification", "binary", "multiclass", "regression"] = "auto"
    group: str | None = None  # TW-D04: rows sharing a group stay in one split
    time: str | None = None  # TW-D04: train on the past, validate and test on the future
    # Integer targets with at most this many distinct values are class labels when the task
    # is inferred; more make it a regression (override with --task).
    max_classes: int = Field(default=20, ge=2)
    drop: list[str] = Field(default_factory=list)  # columns to leave out of the features

    @field_validator("drop", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        return (
            [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value
        )


class SplitConfig(_Section):
    # TW-D03: 80/10/10 train/validation/test, stratified for classification (TW-D04).
    validation: float = Field(default=0.1, gt=0.0, lt=0.5)
    test: float = Field(default=0.1, gt=0.0, lt=0.5)


class ModelConfig(_Section):
    # TW-A02: width and depth are sized to the data when left at None.
    width: int | None = Field(default=None, ge=4)
    depth: int | None = Field(default=None, ge=0, le=16)
    dropout: float = Field(default=0.2, ge=0.0, lt=1.0)  # TW-T05: 0.2-0.5
    activation: Literal["relu", "gelu", "silu", "leaky_relu"] = "relu"  # TW-A06
    # Categoricals with more levels than this get a learned embedding; fewer are one-hot.
    embedding_threshold: int = Field(default=10, ge=2)


class TrainConfig(_Section):
    max_epochs: int = Field(default=100, ge=1)  # an upper bound; early stopping ends sooner
    batch_size: int | None = Field(default=None, ge=1)  # TW-T07: chosen from the data size
    optimizer: Literal["adamw", "sgd"] = "adamw"  # TW-T01
    lr: float = Field(default=1e-3, gt=0.0)
    weight_decay: float = Field(default=1e-2, ge=0.0)  # TW-T05
    momentum: float = Field(default=0.9, ge=0.0, lt=1.0)  # for optimizer=sgd
    schedule: Literal["warmup_cosine", "constant"] = "warmup_cosine"  # TW-T03
    warmup_epochs: float = Field(default=1.0, ge=0.0)  # linear warmup, then cosine to zero
    patience: int = Field(default=10, ge=1)  # TW-T04: early stopping on validation loss
    clip_grad_norm: float | None = Field(default=1.0, gt=0.0)  # TW-T06; None turns it off
    accumulate: int = Field(default=1, ge=1)  # TW-T08: micro-batches per optimizer step
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"  # TW-T09: mixed on CUDA
    # TW-D11: "auto" weights classes when the largest is >= imbalance_ratio x the smallest.
    class_weights: Literal["auto", "on", "off"] = "auto"
    imbalance_ratio: float = Field(default=3.0, ge=1.0)
    deterministic: bool = True  # TW-R01
    checkpoint_keep: int = Field(default=2, ge=1)  # TW-T11: epoch checkpoints kept on disk


class BaselineConfig(_Section):
    # TW-A08: the dummy, linear and LightGBM baselines always run. "ship" picks the model
    # that is exported: the best on validation (default) or a named one.
    ship: Literal["best", "network", "dummy", "linear", "lightgbm"] = "best"
    lightgbm_rounds: int = Field(default=2000, ge=1)


class AuditConfig(_Section):
    """Thresholds of the audit checks (TW-D01, TW-D02, TW-D06, TW-R03).

    Example:
        >>> AuditConfig(outlier_z=5.0).outlier_z
        5.0
    """

    # Finding ids of error severity the user accepts (``--allow ID``): fit proceeds, and the
    # manifest records what was allowed.
    allow: list[str] = Field(default_factory=list)

    # Row indices, columns or groups listed in one finding's evidence; the counts are complete.
    evidence_limit: int = Field(default=20, ge=1)

    # TW-D01: a column missing more than 5% of its values is a warning (the default of
    # Deepchecks' PercentOfNulls condition); fewer missing values are reported as info.
    missing_warn_fraction: float = Field(default=0.05, ge=0.0, le=1.0)
    # TW-D01: near-zero variance as caret's nearZeroVar defines it: the most common value is
    # more than 19x (95/5) as frequent as the second and under 10% of the values are distinct.
    near_constant_ratio: float = Field(default=19.0, gt=1.0)
    near_constant_unique_fraction: float = Field(default=0.10, gt=0.0, le=1.0)
    # TW-D01: more distinct values than this make a categorical high-cardinality
    # (ydata-profiling's default `vars.cat.cardinality_threshold`).
    high_cardinality: int = Field(default=50, ge=2)
    # TW-D01: |modified z-score| above 3.5 marks a potential outlier (Iglewicz & Hoaglin, 1993).
    outlier_z: float = Field(default=3.5, gt=0.0)

    # TW-D02: label errors are searched in at most this many rows (a random sample above it),
    # which keeps the out-of-fold model under a few seconds.
    label_error_max_rows: int = Field(default=10_000, ge=100)
    # TW-D02: benchmark test sets carry 3.3% label errors on average (Northcutt et al., 2021,
    # "Pervasive Label Errors in Test Sets"); flagged rows above 3% make a warning, fewer info.
    label_error_warn_fraction: float = Field(default=0.03, ge=0.0, le=1.0)

    # TW-D06: rows equal after rounding numbers to this many significant digits (and
    # normalizing case and whitespace in text) are near duplicates: re-exported copies.
    near_duplicate_digits: int = Field(default=4, ge=1, le=15)
    # TW-D06: more than 10% of a validation or test split also in train blocks the run
    # (Deepchecks' TrainTestSamplesMix default); any smaller share is a warning.
    shared_rows_error_fraction: float = Field(default=0.10, ge=0.0, le=1.0)
    # TW-D06: one feature alone reaching this out-of-fold skill (balanced accuracy rescaled
    # so chance is 0, or R^2) predicts the target "almost perfectly". Deepchecks warns from a
    # predictive power score of 0.8, but strong honest features reach that (breast cancer's
    # "worst perimeter"); a blocking error needs a near-perfect score.
    target_leakage_skill: float = Field(default=0.95, gt=0.0, le=1.0)
    # TW-D06: |Spearman rank correlation| above this means a numeric feature is a monotonic
    # transformation of a regression target.
    target_leakage_rank: float = Field(default=0.99, gt=0.0, le=1.0)
    # TW-D06: rows used for the per-feature models (a random sample above it).
    target_leakage_max_rows: int = Field(default=20_000, ge=100)

    # TW-R03: share of a text column's values that must look like e-mail addresses, phone
    # numbers or person names before the column is reported as personal data.
    personal_data_fraction: float = Field(default=0.5, gt=0.0, le=1.0)

    @field_validator("allow", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        return _comma_list(value)


class LoggingConfig(_Section):
    tensorboard: bool = True  # TW-M02
    progress: bool = True
    log_every: int = Field(default=10, ge=1)  # steps between TensorBoard step scalars


class FitConfig(_Section):
    """The fully resolved configuration of one ``trainwell fit`` run."""

    seed: int = 0  # TW-R01
    data: DataConfig = Field(default_factory=DataConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    baselines: BaselineConfig = Field(default_factory=BaselineConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)


def parse_value(text: str) -> Any:
    """Read an override's value: JSON where it parses (numbers, true, null, lists), else text."""
    lowered = text.strip().lower()
    if lowered in {"none", "null"}:
        return None
    if lowered in {"true", "false"}:
        return lowered == "true"
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _set_path(tree: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = tree
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {key!r}: {part!r} is a value, not a section")
        node = child
    node[parts[-1]] = value


def _merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for name, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(name), dict):
            _merge(into[name], value)
        else:
            into[name] = value


def _check_key(key: str) -> None:
    """Reject unknown keys with a "did you mean" before pydantic's longer message."""
    model: type[BaseModel] = FitConfig
    parts = key.split(".")
    for i, part in enumerate(parts):
        fields = model.model_fields
        if part not in fields:
            where = ".".join(parts[:i]) or "the top level"
            raise ConfigError(
                f"unknown config key {key!r}: no {part!r} in {where}"
                f"{did_you_mean(part, fields)}; see `trainwell fit --help` for the keys"
            )
        annotation = fields[part].annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        elif i < len(parts) - 1:
            raise ConfigError(f"unknown config key {key!r}: {part!r} has no sub-keys")


def _flatten(tree: dict[str, Any], prefix: str = "") -> list[str]:
    keys: list[str] = []
    for name, value in tree.items():
        full = f"{prefix}{name}"
        keys.extend(_flatten(value, full + ".") if isinstance(value, dict) else [full])
    return keys


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML or JSON config file into a nested dict."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text())
        else:
            data = tomllib.loads(path.read_text())
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {str(path)!r} is malformed: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a table of sections")
    return data


def build_config(
    base: dict[str, Any] | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | None = None,
    **options: Any,
) -> FitConfig:
    """Resolve a :class:`FitConfig` from a base dict, a config file and ``key=value`` overrides.

    Later sources win: ``base`` < ``config_file`` < ``overrides`` < ``options`` (flat
    ``key.sub=value`` pairs given as keyword arguments with ``__`` for dots, or None to skip).

    Raises:
        ConfigError: an unknown key, a malformed override or file, or an invalid value.
    """
    tree: dict[str, Any] = json.loads(json.dumps(base or {}))
    if config_file is not None:
        file_tree = read_config_file(config_file)
        for key in _flatten(file_tree):
            _check_key(key)
        _merge(tree, file_tree)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(
                f"malformed override {item!r}: write key=value, for example train.lr=3e-4"
            )
        key, _, raw = item.partition("=")
        key = key.strip()
        _check_key(key)
        _set_path(tree, key, parse_value(raw))
    for name, value in options.items():
        if value is not None:
            key = name.replace("__", ".")
            _check_key(key)
            _set_path(tree, key, value)
    try:
        return FitConfig.model_validate(tree)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"invalid config value for {where}: {first['msg']} (got {first.get('input')!r})"
        ) from None
