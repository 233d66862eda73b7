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
from collections.abc import Sequence
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
    # Other modalities (trainwell.modalities): a folder of class sub-folders is images; a
    # text column (--text) makes a text task; a series id column (--series, with --time
    # ordering the rows inside a series) makes one sample per series.
    text: str | None = None
    series: str | None = None
    # TW-A01: "auto" trains a table whose feature columns are one ordered signal (STEM0,
    # STEM1, ..., neighbours strongly correlated) as a series; "table" keeps it a table.
    layout: Literal["auto", "table", "wide_series"] = "auto"

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
    # TW-D05: K-fold cross-validation on the training + validation rows (trainwell.cv): the
    # mean and spread of the validation metrics over K folds; 0 is off. Off by default: it
    # trains the network K more times and changes nothing that ships (it estimates); on
    # small data (a few hundred rows, where one validation split moves by points) set
    # split.cv=5. `trainwell tune` then scores each trial by its CV mean.
    cv: int = Field(default=0, ge=0, le=20)

    @field_validator("cv")
    @classmethod
    def _folds(cls, value: int) -> int:
        if value == 1:
            raise ValueError("1 fold is no cross-validation: 0 turns it off, K >= 2 folds")
        return value


class ModelConfig(_Section):
    # TW-A02: width and depth are sized to the data when left at None.
    width: int | None = Field(default=None, ge=4)
    depth: int | None = Field(default=None, ge=0, le=16)
    dropout: float = Field(default=0.2, ge=0.0, lt=1.0)  # TW-T05: 0.2-0.5
    activation: Literal["relu", "gelu", "silu", "leaky_relu"] = "relu"  # TW-A06
    # Categoricals with more levels than this get a learned embedding; fewer are one-hot.
    embedding_threshold: int = Field(default=10, ge=2)
    # TW-A01/A02: images, text and series pick an architecture by task and data size ("auto",
    # the choice and its reason in the manifest); name one to override (trainwell.models).
    name: str = "auto"
    # TW-A03: pre-trained weights: a .safetensors file or a Hugging Face model folder. Nothing
    # is downloaded unless model.download=true (then the library's hub cache is used).
    pretrained: str | None = None
    download: bool = False
    # TW-A04: fine-tuning trains the head alone for freeze_epochs, then unfreezes one layer
    # group (from the top) every unfreeze_every epochs; each group deeper gets the LR of the
    # one above times layer_lr_decay (discriminative learning rates, ULMFiT's 1/2.6).
    freeze_epochs: int = Field(default=1, ge=0)
    # TW-A03/A04: unfreeze the pre-trained backbone after freeze_epochs (true), never (false),
    # or None: yes, except a text encoder on a CPU, which stays frozen under a trained head.
    fine_tune: bool | None = None
    unfreeze_every: int = Field(default=1, ge=1)
    layer_lr_decay: float = Field(default=0.4, gt=0.0, le=1.0)
    # TW-T10: recompute activations in backward for large backbones; "auto" turns it on for
    # backbones above 50M parameters.
    gradient_checkpointing: Literal["auto", "on", "off"] = "auto"
    image_size: int | None = Field(default=None, ge=8)  # None: the images' median size
    max_tokens: int = Field(default=64, ge=4)  # text: tokens per example (truncated)
    series_length: int | None = Field(default=None, ge=4)  # None: the longest series


class TrainConfig(_Section):
    max_epochs: int = Field(default=100, ge=1)  # an upper bound; early stopping ends sooner
    # TW-T07, TW-T08-T10: None (or "auto") picks it from the data size and, on CUDA, halves
    # it until a training step fits in memory (accumulate then grows to keep the batch).
    batch_size: int | None = Field(default=None, ge=1)
    optimizer: Literal["adamw", "sgd"] = "adamw"  # TW-T01
    # TW-T02: None (or "auto") runs the LR range test before training and starts from its
    # suggestion (curve in RUN_DIR/lr_find.json); a number skips the test.
    lr: float | None = Field(default=None, gt=0.0)
    # How the suggestion is read off the curve (trainwell.train.range_test): valley is the most
    # stable on small data; steepest as in Lightning; minimum is a tenth of the lowest point.
    lr_find_method: Literal["valley", "steepest", "minimum"] = "valley"
    lr_find_steps: int = Field(default=100, ge=10)  # steps of the sweep from 1e-7 to 10
    weight_decay: float = Field(default=1e-2, ge=0.0)  # TW-T05
    momentum: float = Field(default=0.9, ge=0.0, lt=1.0)  # for optimizer=sgd
    # TW-T03: warmup_cosine, one_cycle, step, plateau, cosine_restarts or constant
    # (trainwell.train.schedule); each schedule's keys below are ignored by the others.
    schedule: Literal[
        "warmup_cosine", "one_cycle", "step", "plateau", "cosine_restarts", "constant"
    ] = "warmup_cosine"
    warmup_epochs: float = Field(default=1.0, ge=0.0)  # linear warmup, then cosine to zero
    one_cycle_peak: float = Field(default=0.3, gt=0.0, lt=1.0)  # share of steps rising
    step_milestones: list[float] = Field(default_factory=lambda: [0.5, 0.75])  # of max_epochs
    step_gamma: float = Field(default=0.1, gt=0.0, lt=1.0)  # LR multiplier at each milestone
    plateau_factor: float = Field(default=0.1, gt=0.0, lt=1.0)
    # Below train.patience, so the LR drops (twice) before early stopping gives up.
    plateau_patience: int = Field(default=3, ge=0)
    restart_epochs: float = Field(default=10.0, gt=0.0)  # first cosine cycle
    restart_mult: int = Field(default=2, ge=1)  # each cycle this many times the last
    patience: int = Field(default=10, ge=1)  # TW-T04: early stopping on validation loss
    clip_grad_norm: float | None = Field(default=1.0, gt=0.0)  # TW-T06; None turns it off
    accumulate: int = Field(default=1, ge=1)  # TW-T08: micro-batches per optimizer step
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"  # TW-T09: mixed on CUDA
    # TW-D11: "auto" weights classes when the largest is >= imbalance_ratio x the smallest.
    class_weights: Literal["auto", "on", "off"] = "auto"
    imbalance_ratio: float = Field(default=3.0, ge=1.0)
    deterministic: bool = True  # TW-R01
    checkpoint_keep: int = Field(default=2, ge=1)  # TW-T11: epoch checkpoints kept on disk

    @field_validator("lr", "batch_size", mode="before")
    @classmethod
    def _auto(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip().lower() == "auto" else value

    @field_validator("step_milestones", mode="before")
    @classmethod
    def _milestones(cls, value: Any) -> Any:
        return [value] if isinstance(value, int | float) else _comma_list(value)

    @field_validator("step_milestones")
    @classmethod
    def _fractions(cls, value: list[float]) -> list[float]:
        if not value or not all(0.0 < v < 1.0 for v in value):
            raise ValueError("milestones are fractions of train.max_epochs, each in (0, 1)")
        return value


class AugmentConfig(_Section):
    """Augmentation of the training split only (TW-D10); validation, test and predict never.

    Example:
        >>> AugmentConfig(enabled=False).enabled
        False
    """

    enabled: bool = True
    # Images: mirror left-right ("auto": on, except small one-channel images such as glyphs
    # and digits, whose mirror image can be another class), shift-crop by up to this share of
    # the side, brightness/contrast jitter of this strength.
    flip: Literal["auto", "on", "off"] = "auto"
    crop: float = Field(default=0.1, ge=0.0, lt=0.5)
    color_jitter: float = Field(default=0.2, ge=0.0, lt=1.0)
    # Text: drop each token with this probability (synonym-free perturbation).
    token_dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    # Series: Gaussian jitter (x the channel's std), amplitude scaling by 1 +- scale, and a
    # random window of this share of the length (stretched back to the full length).
    jitter: float = Field(default=0.03, ge=0.0)
    scale: float = Field(default=0.1, ge=0.0, lt=1.0)
    window: float = Field(default=0.9, gt=0.0, le=1.0)


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


class DoctorConfig(_Section):
    """The training doctor inside ``fit`` (TW-X01-X08): observes, and rescues when asked."""

    enabled: bool = True  # live diagnosis of the network's training (findings.json)
    overfit_batch: bool = True  # TW-X01: before training, a copy must overfit one batch
    # On divergence or NaN: restore the last good epoch, lower the LR, enable clipping.
    remedy: bool = True
    remedy_lr_factor: float = Field(default=0.1, gt=0.0, lt=1.0)
    remedy_clip_grad_norm: float = Field(default=1.0, gt=0.0)  # when clipping was off
    max_remedies: int = Field(default=3, ge=1)  # then the run stops, with the findings


class ReportConfig(_Section):
    """What the run saves for ``report.html`` and ``model_card.md`` beyond metrics (TW-E03-E06).

    Example:
        >>> ReportConfig(groups="sex,age_band").groups
        ['sex', 'age_band']
    """

    # TW-E04: sensitive or slice columns (``--groups sex,age_band``); metrics per group on the
    # test split with fairlearn's MetricFrame. A column may be a feature or not.
    groups: list[str] = Field(default_factory=list)
    # TW-E04: a gap between groups this large is a finding: test accuracy points for
    # classification; for regression, the spread of the groups' MAE as a fraction of the
    # overall MAE (group_gap_relative).
    group_gap: float = Field(default=0.10, gt=0.0, le=1.0)
    group_gap_relative: float = Field(default=0.5, gt=0.0)
    # TW-E04: groups with fewer test rows than this are listed but not judged (too noisy).
    min_group_size: int = Field(default=20, ge=1)
    # TW-E03: resamples of the test rows for the 95% BCa bootstrap intervals (accuracy's Wilson
    # interval needs none); 0 turns the bootstrap off. See trainwell.report.intervals.
    bootstrap: int = Field(default=1999, ge=0)
    # TW-E05: permutation importance on the validation split (repeats, at most this many rows)
    # and Shapley-value attributions (captum) for this many validation examples.
    importance_repeats: int = Field(default=5, ge=1)
    importance_max_rows: int = Field(default=2000, ge=50)
    explain_examples: int = Field(default=3, ge=0, le=10)
    # TW-D13: training rows shown as the network's input layer sees them.
    input_sample: int = Field(default=48, ge=1, le=500)
    # TW-R04: energy and carbon of the run with codecarbon, offline; the grid's carbon
    # intensity is the average of this country (ISO 3166 alpha-3) from codecarbon's own data.
    energy: bool = True
    country: str = Field(default="USA", min_length=3, max_length=3)

    @field_validator("groups", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        return _comma_list(value)


class LoggingConfig(_Section):
    tensorboard: bool = True  # TW-M02
    progress: bool = True
    log_every: int = Field(default=10, ge=1)  # steps between TensorBoard step scalars
    # TW-M04: steps between per-layer weight/gradient norms and histograms in TensorBoard
    # (0: never); each costs a copy of every parameter, so it is sparse by default.
    histogram_every: int = Field(default=200, ge=0)
    # TW-M05: also log params and per-epoch metrics to MLflow (pip install "trainwell[mlflow]"):
    # a tracking URI (sqlite:///mlflow.db) or a local folder (MLflow's file store); null: off.
    mlflow: str | None = None


class EnsembleConfig(_Section):
    # TW-H04: average this many networks trained from different seeds (trainwell.ensemble);
    # kept only when the average beats the best single one on validation. 1 is off: each
    # member costs a full training.
    size: int = Field(default=1, ge=1, le=20)


class FitConfig(_Section):
    """The fully resolved configuration of one ``trainwell fit`` run."""

    seed: int = 0  # TW-R01
    data: DataConfig = Field(default_factory=DataConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    baselines: BaselineConfig = Field(default_factory=BaselineConfig)
    doctor: DoctorConfig = Field(default_factory=DoctorConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    ensemble: EnsembleConfig = Field(default_factory=EnsembleConfig)


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


def options_config(
    config_file: str | Path | None = None,
    overrides: Sequence[str] = (),
    *,
    target: str | None = None,
    task: str | None = None,
    group: str | None = None,
    time: str | None = None,
    seed: int | None = None,
    text: str | None = None,
    series: str | None = None,
    **options: Any,
) -> FitConfig:
    """The config that ``fit``, ``audit`` and ``lr-find`` resolve from their shared options
    (``--target``, ``--task``, ... win over ``--config`` and ``key=value`` overrides)."""
    return build_config(
        config_file=config_file,
        overrides=list(overrides),
        data__target=target,
        data__task=task,
        data__group=group,
        data__time=time,
        seed=seed,
        data__text=text,
        data__series=series,
        **options,
    )


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


# Keys that only one value of another key reads: (section, key) -> (selector key, values).
_ONLY_WITH: dict[tuple[str, str], tuple[str, frozenset[str]]] = {
    ("train", "momentum"): ("optimizer", frozenset({"sgd"})),
    ("train", "warmup_epochs"): ("schedule", frozenset({"warmup_cosine"})),
    ("train", "one_cycle_peak"): ("schedule", frozenset({"one_cycle"})),
    ("train", "step_milestones"): ("schedule", frozenset({"step"})),
    ("train", "step_gamma"): ("schedule", frozenset({"step"})),
    ("train", "plateau_factor"): ("schedule", frozenset({"plateau"})),
    ("train", "plateau_patience"): ("schedule", frozenset({"plateau"})),
    ("train", "restart_epochs"): ("schedule", frozenset({"cosine_restarts"})),
    ("train", "restart_mult"): ("schedule", frozenset({"cosine_restarts"})),
}
# Keys of the model, augment and data sections that every modality reads.
_ALWAYS = frozenset({"data.target", "data.task", "augment.enabled"})


def _changed(part: BaseModel, key: str) -> bool:
    """Set by the user to something else than its default (a key at its default changes
    nothing, as in a config.json that lists every key)."""
    default = type(part).model_fields[key].get_default(call_default_factory=True)
    return key in part.model_fields_set and getattr(part, key) != default


def check_applicable(cfg: FitConfig, modality: str, options: frozenset[str]) -> None:
    """Refuse a key the user set that would have no effect on this run, with the reason:
    a schedule's key under another schedule, ``train.momentum`` without SGD, the LR range
    test's keys with a fixed ``train.lr``, or a ``model``/``augment``/``data`` key that this
    modality does not read (``options``: the keys it does).

    Raises:
        ConfigError: one line naming the key, why it has no effect and what to do.
    """
    for (section, key), (selector, values) in _ONLY_WITH.items():
        part = getattr(cfg, section)
        chosen = getattr(part, selector)
        if _changed(part, key) and chosen not in values:
            need = " or ".join(f"{section}.{selector}={v}" for v in sorted(values))
            raise ConfigError(
                f"{section}.{key} has no effect with {section}.{selector}={chosen}; it applies "
                f"with {need}: remove it or set that"
            )
    if cfg.train.lr is not None:
        for key in ("lr_find_method", "lr_find_steps"):
            if _changed(cfg.train, key):
                raise ConfigError(
                    f"train.{key} has no effect with train.lr={cfg.train.lr:g}: the LR range "
                    "test only runs when train.lr=auto; remove one of them"
                )
    for section in ("model", "augment", "data"):
        part = getattr(cfg, section)
        for key in sorted(part.model_fields_set):
            name = f"{section}.{key}"
            if name in _ALWAYS or name in options or not _changed(part, key):
                continue
            raise ConfigError(
                f"{name} has no effect on {modality} data; the {modality} modality reads "
                + ", ".join(sorted(o for o in options if o.startswith(section + ".")))
                + " (see `trainwell fit --help`)"
            )
