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
import re
import tomllib
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from trainwell.errors import ConfigError, did_you_mean

Task = Literal["binary", "multiclass", "regression"]


def _comma_list(value: Any) -> Any:
    """Let list keys be written ``a,b`` on the command line as well as ``["a", "b"]``."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


class _Section(BaseModel):
    # Unknown keys are errors, never silently ignored (a misspelt key would otherwise be a
    # no-op). Each key's docstring is its description in `trainwell fit --help`.
    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, use_attribute_docstrings=True
    )


class DataConfig(_Section):
    target: str = ""
    """The column to predict (--target); for a folder of class sub-folders, the label name."""
    task: Literal["auto", "classification", "binary", "multiclass", "regression"] = "auto"
    """auto infers it from the target; classification picks binary or multiclass by the
    number of classes."""
    group: str | None = None
    """TW-D04: rows sharing a value of this column stay in one split (--group)."""
    time: str | None = None
    """TW-D04: a time column: train on the past, validate and test on the future (--time)."""
    max_classes: int = Field(default=20, ge=2)
    """Integer targets with at most this many distinct values are class labels when the task
    is inferred; more make it a regression (override with --task)."""
    drop: list[str] = Field(default_factory=list)
    """Columns to leave out of the features (comma-separated)."""
    text: str | None = None
    """A text column: each row's text is the input (--text)."""
    series: str | None = None
    """A series id column: the rows of one id (ordered by --time) are one sample (--series)."""
    layout: Literal["auto", "table", "wide_series"] = "auto"
    """TW-A01: auto trains a table whose feature columns are one ordered signal (STEM0,
    STEM1, ..., neighbours strongly correlated) as a series; table keeps it a table."""
    streaming: Literal["auto", "on", "off"] = "auto"
    """A table larger than memory (trainwell.streaming): on reads a Parquet file in row groups,
    trains on every training row and keeps a sample of data.sample_rows rows in memory for the
    audit, preprocessing, baselines, validation and test metrics, the split decided per row by
    a hash of its row number (or --group value); auto turns it on for a Parquet file of more
    than data.streaming_rows rows."""
    streaming_rows: int = Field(default=2_000_000, ge=1)
    """Rows above which data.streaming=auto streams a Parquet file."""
    sample_rows: int = Field(default=200_000, ge=20)
    """Rows of a streamed table held in memory (the audit's and preprocessing's sample)."""

    @field_validator("drop", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        return (
            [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value
        )

    @model_validator(mode="after")
    def _one_modality(self) -> DataConfig:
        if self.text is not None and self.series is not None:
            raise PydanticCustomError("choice", "pass either --text or --series, not both")
        return self


class SplitConfig(_Section):
    validation: float = Field(default=0.1, gt=0.0, lt=0.5)
    """TW-D03: share of rows in the validation split (stratified for classification, TW-D04)."""
    test: float = Field(default=0.1, gt=0.0, lt=0.5)
    """TW-D03: share of rows in the test split, sealed until the final evaluation (TW-D07)."""
    cv: int = Field(default=0, ge=0, le=20)
    """TW-D05: K-fold cross-validation on the training + validation rows (trainwell.cv): the
    mean and spread of the validation metrics over K folds; 0 is off. Off by default: it
    trains the network K more times and changes nothing that ships (it estimates); on small
    data (a few hundred rows, where one validation split moves by points) set split.cv=5;
    trainwell tune then scores each trial by its CV mean."""

    @field_validator("cv")
    @classmethod
    def _folds(cls, value: int) -> int:
        if value == 1:
            raise ValueError("1 fold is no cross-validation: 0 turns it off, K >= 2 folds")
        return value


class ModelConfig(_Section):
    width: int | None = Field(default=None, ge=4)
    """TW-A02: units per hidden layer; None sizes it to the data."""
    depth: int | None = Field(default=None, ge=0, le=16)
    """TW-A02: hidden layers (residual blocks); None sizes it to the data."""
    dropout: float = Field(default=0.2, ge=0.0, lt=1.0)
    """TW-T05: dropout probability (the guides' range is 0.2-0.5)."""
    activation: Literal["relu", "gelu", "silu", "leaky_relu"] = "relu"
    """TW-A06: the hidden layers' activation function."""
    embedding_threshold: int = Field(default=10, ge=2)
    """Categoricals with more levels than this get a learned embedding; fewer are one-hot."""
    name: str = "auto"
    """TW-A01/A02: the architecture; auto picks one by task and data size (the choice and its
    reason go in the manifest); name one to override (trainwell.models)."""
    pretrained: str | None = None
    """TW-A03: pre-trained weights, a .safetensors file or a Hugging Face model folder."""
    download: bool = False
    """TW-A03: allow downloading pre-trained weights (into the library's hub cache); off, so
    nothing is fetched unless asked."""
    freeze_epochs: int = Field(default=1, ge=0)
    """TW-A04: epochs that train the new head alone before the backbone is unfrozen."""
    fine_tune: bool | None = None
    """TW-A03/A04: unfreeze the pre-trained backbone after freeze_epochs (true), never
    (false), or None: yes, except a text encoder on a CPU, which stays frozen. A backbone
    frozen for good is a fixed feature extractor (trainwell.train.feature_cache)."""
    unfreeze_every: int = Field(default=1, ge=1)
    """TW-A04: epochs between unfreezing one more layer group, from the top (gradual
    unfreezing)."""
    layer_lr_decay: float = Field(default=0.4, gt=0.0, le=1.0)
    """TW-A04: each layer group deeper gets the LR of the one above times this
    (discriminative learning rates; ULMFiT uses 1/2.6)."""
    gradient_checkpointing: Literal["auto", "on", "off"] = "auto"
    """TW-T10: recompute activations in backward to save memory; auto turns it on for
    backbones above 50M parameters."""


# Choices shaped like the choice (issue 11): the optimizer and the schedule are each one of
# several option models told apart by ``name``, so a key exists only under the choice that
# reads it (``train.schedule.milestones`` only with ``train.schedule=step``). On the command
# line ``train.schedule=step`` is short for ``train.schedule.name=step``.


def _shorthand(key: str, *variants: type[_Section]) -> BeforeValidator:
    """The validator in front of a choice among ``variants`` (a discriminated union on
    ``name``): it accepts a bare name and refuses another variant's keys with the reason."""
    by_name = {v.model_fields["name"].default: v for v in variants}

    def shorthand(value: Any) -> Any:
        if isinstance(value, BaseModel):
            return value
        if isinstance(value, str):
            value = {"name": value}
        if not isinstance(value, dict):
            return value  # pydantic's own error
        name = value.get("name", next(iter(by_name)))
        chosen = by_name.get(name)
        if chosen is None:
            raise PydanticCustomError(
                "choice",
                f"{key}={name} is not one of " + ", ".join(by_name) + " (see trainwell fit --help)",
            )
        for sub in value:
            if sub in chosen.model_fields:
                continue
            owners = [n for n, v in by_name.items() if sub in v.model_fields]
            if owners:
                raise PydanticCustomError(
                    "choice",
                    f"{key}.{sub} has no effect with {key}={name}; it applies with "
                    + " or ".join(f"{key}={o}" for o in owners)
                    + ": remove it or set that",
                )
        return {**value, "name": name}

    return BeforeValidator(shorthand)


def choice_variants(field: FieldInfo) -> list[type[BaseModel]]:
    """The option models of a config choice (empty for any other field)."""
    args = typing.get_args(field.annotation)
    return [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]


class AdamWOptions(_Section):
    """AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, 2019; torch.optim.AdamW)."""

    name: Literal["adamw"] = "adamw"
    """The optimizer."""


class SGDOptions(_Section):
    """SGDOptions with Nesterov momentum (torch.optim.SGD, nesterov=True)."""

    name: Literal["sgd"] = "sgd"
    """The optimizer."""
    momentum: float = Field(default=0.9, ge=0.0, lt=1.0)
    """sgd: the momentum coefficient."""


OptimizerChoice = Annotated[
    AdamWOptions | SGDOptions,
    Field(discriminator="name"),
    _shorthand("train.optimizer", AdamWOptions, SGDOptions),
]


class WarmupCosineOptions(_Section):
    """Linear warmup, then cosine decay to zero (Goyal et al., 2017; Loshchilov & Hutter)."""

    name: Literal["warmup_cosine"] = "warmup_cosine"
    """The schedule."""
    warmup_epochs: float = Field(default=1.0, ge=0.0)
    """warmup_cosine: epochs of linear warmup, then cosine decay to zero over the epochs that
    run."""


class OneCycleOptions(_Section):
    """Smith's one-cycle policy (torch.optim.lr_scheduler.OneCycleLR)."""

    name: Literal["one_cycle"] = "one_cycle"
    """The schedule."""
    peak: float = Field(default=0.3, gt=0.0, lt=1.0)
    """one_cycle: share of the steps spent rising to the peak LR."""


class StepOptions(_Section):
    """Step decay at milestones (torch.optim.lr_scheduler.MultiStepLR)."""

    name: Literal["step"] = "step"
    """The schedule."""
    milestones: list[float] = Field(default_factory=lambda: [0.5, 0.75])
    """step: where the LR drops, as fractions of train.max_epochs (comma-separated)."""
    gamma: float = Field(default=0.1, gt=0.0, lt=1.0)
    """step: the LR multiplier at each milestone."""

    @field_validator("milestones", mode="before")
    @classmethod
    def _milestones(cls, value: Any) -> Any:
        return [value] if isinstance(value, int | float) else _comma_list(value)

    @field_validator("milestones")
    @classmethod
    def _fractions(cls, value: list[float]) -> list[float]:
        if not value or not all(0.0 < v < 1.0 for v in value):
            raise ValueError("milestones are fractions of train.max_epochs, each in (0, 1)")
        return value


class PlateauOptions(_Section):
    """Reduce on plateau (torch.optim.lr_scheduler.ReduceLROnPlateau)."""

    name: Literal["plateau"] = "plateau"
    """The schedule."""
    factor: float = Field(default=0.1, gt=0.0, lt=1.0)
    """plateau: the LR multiplier when the validation loss stops improving."""
    patience: int = Field(default=3, ge=0)
    """plateau: epochs without improvement before the LR drops; below train.patience, so the
    LR drops (twice) before early stopping gives up."""


class CosineRestartsOptions(_Section):
    """Cosine annealing with warm restarts, SGDR (Loshchilov & Hutter, 2017;
    torch.optim.lr_scheduler.CosineAnnealingWarmRestarts)."""

    name: Literal["cosine_restarts"] = "cosine_restarts"
    """The schedule."""
    cycle_epochs: float = Field(default=10.0, gt=0.0)
    """cosine_restarts: epochs of the first cosine cycle (SGDR's T_0)."""
    cycle_mult: int = Field(default=2, ge=1)
    """cosine_restarts: each cycle is this many times longer than the last (T_mult)."""


class ConstantOptions(_Section):
    """A constant learning rate."""

    name: Literal["constant"] = "constant"
    """The schedule."""


_SCHEDULES = (
    WarmupCosineOptions,
    OneCycleOptions,
    StepOptions,
    PlateauOptions,
    CosineRestartsOptions,
    ConstantOptions,
)
ScheduleChoice = Annotated[
    WarmupCosineOptions
    | OneCycleOptions
    | StepOptions
    | PlateauOptions
    | CosineRestartsOptions
    | ConstantOptions,
    Field(discriminator="name"),
    _shorthand("train.schedule", *_SCHEDULES),
]


_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|m|min|h)?\s*$", re.IGNORECASE)
_SECONDS_PER = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_duration(value: str) -> float:
    """Seconds in ``"90"``, ``"90s"``, ``"10m"``, ``"1.5h"``.

    Raises:
        ValueError: anything else (pydantic turns it into the config error).

    Example:
        >>> parse_duration("10m"), parse_duration("1.5h"), parse_duration("45")
        (600.0, 5400.0, 45.0)
    """
    match = _DURATION.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a duration: write seconds, or 90s, 10m, 1.5h")
    return float(match.group(1)) * _SECONDS_PER[(match.group(2) or "").lower()]


class TrainConfig(_Section):
    max_epochs: int = Field(default=100, ge=1)
    """An upper bound on epochs; early stopping usually ends sooner (TW-T04)."""
    batch_size: int | None = Field(default=None, ge=1)
    """TW-T07-T10: None (or auto) picks it from the data size and, on CUDA, halves it until a
    step fits in memory (accumulate then grows to keep the effective batch)."""
    lr: float | None = Field(default=None, gt=0.0)
    """TW-T02: the starting learning rate; None (or auto) runs the LR range test and starts
    from its suggestion (RUN_DIR/lr_find.json)."""
    lr_find_method: Literal["valley", "steepest", "minimum"] = "valley"
    """TW-T02: how the range test's suggestion is read off the curve: valley (fastai's, the
    most stable on small data), steepest (Lightning's) or minimum (a tenth of the lowest
    point)."""
    lr_find_steps: int = Field(default=100, ge=10)
    """TW-T02: steps of the range test's sweep from 1e-7 to 10 (at least two epochs run)."""
    weight_decay: float = Field(default=1e-2, ge=0.0)
    """TW-T05: decoupled weight decay (AdamWOptions) or L2 (SGDOptions)."""
    optimizer: OptimizerChoice = Field(default_factory=lambda: AdamWOptions())
    """TW-T01: adamw, or sgd (with Nesterov momentum: train.optimizer.momentum)."""
    schedule: ScheduleChoice = Field(default_factory=lambda: WarmupCosineOptions())
    """TW-T03: the LR schedule (trainwell.train.schedule): warmup_cosine, one_cycle, step,
    plateau, cosine_restarts or constant; its own keys are train.schedule.KEY."""
    patience: int = Field(default=10, ge=1)
    """TW-T04: early stopping after this many epochs without a better validation loss."""
    time_budget: float | None = Field(default=None, gt=0.0)
    """TW-T04: seconds of training at most (90s, 10m, 1.5h too; None: no limit): the epochs
    that fit are planned, and training stops with the best epoch's weights when the next one
    would not fit (trainwell.train.callbacks.time_budget)."""
    clip_grad_norm: float | None = Field(default=1.0, gt=0.0)
    """TW-T06: clip the gradients' global norm to this; None turns clipping off."""
    accumulate: int = Field(default=1, ge=1)
    """TW-T08: micro-batches accumulated per optimizer step."""
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    """TW-T09: numeric precision; auto is mixed precision on CUDA, fp32 on a CPU."""
    compile: bool = False
    """TW-T13: torch.compile the network's forward for training where the platform can
    (trainwell.train.compile); otherwise one line says why and training runs eager."""
    class_weights: Literal["auto", "on", "off"] = "auto"
    """TW-D11: weight the loss by inverse class frequency; auto does it when the largest
    class has at least imbalance_ratio times the rows of the smallest."""
    imbalance_ratio: float = Field(default=3.0, ge=1.0)
    """TW-D11: the class-size ratio from which class_weights=auto weights the classes."""
    deterministic: bool = True
    """TW-R01: deterministic algorithms, so a run with the same seed repeats exactly."""
    checkpoint_keep: int = Field(default=2, ge=1)
    """TW-T11: epoch checkpoints kept on disk (the best one is always kept)."""

    @field_validator("lr", "batch_size", mode="before")
    @classmethod
    def _auto(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip().lower() == "auto" else value

    @field_validator("time_budget", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, str):
            return None if value.strip().lower() in {"none", "off"} else parse_duration(value)
        return value


class AugmentConfig(_Section):
    """Augmentation of the training split only (TW-D10); validation, test and predict never.
    What each kind of data does is its own section's (``image.flip``, ``text.token_dropout``,
    ``series.jitter``; audio's is fixed: see trainwell.modalities.audio).

    Example:
        >>> AugmentConfig(enabled=False).enabled
        False
    """

    enabled: bool = True
    """TW-D10: augment the training split (images, text, series, audio)."""


# Each kind of data's own keys, in a section named after it (issue 11: options owned by their
# modality). The modality lists the keys it reads (``Modality.options``); a key of another
# modality's section is refused with the reason (:func:`check_applicable`).


class ImageOptions(_Section):
    """What the image modality reads (trainwell.modalities.image)."""

    size: int | None = Field(default=None, ge=8)
    """Images: the side they are resized to; None takes the images' median size."""
    flip: Literal["auto", "on", "off"] = "auto"
    """Images, TW-D10: mirror left-right; auto is on, except for small one-channel images
    such as glyphs and digits, whose mirror image can be another class."""
    crop: float = Field(default=0.1, ge=0.0, lt=0.5)
    """Images, TW-D10: shift-crop by up to this share of the side."""
    color_jitter: float = Field(default=0.2, ge=0.0, lt=1.0)
    """Images, TW-D10: the strength of the brightness and contrast jitter."""


class TextOptions(_Section):
    """What the text modality reads (trainwell.modalities.text)."""

    max_tokens: int = Field(default=64, ge=4)
    """Text: tokens per example (longer texts are truncated)."""
    token_dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    """Text, TW-D10: drop each token with this probability (not while the encoder stays
    frozen for the whole run: its features are then computed once per text)."""


class SeriesOptions(_Section):
    """What the series modalities read (trainwell.modalities.series, wide_series)."""

    length: int | None = Field(default=None, ge=4)
    """Series: steps per sample (cropped or padded); None takes the longest series."""
    jitter: float = Field(default=0.03, ge=0.0)
    """Series, TW-D10: Gaussian noise, as a multiple of each channel's standard deviation."""
    scale: float = Field(default=0.1, ge=0.0, lt=1.0)
    """Series, TW-D10: scale the amplitude by a random factor in 1 +- this."""
    window: float = Field(default=0.9, gt=0.0, le=1.0)
    """Series, TW-D10: a random window of this share of the length, stretched back to the
    full length."""


class BaselineConfig(_Section):
    ship: Literal["best", "network", "dummy", "linear", "lightgbm", "ensemble"] = "best"
    """TW-A08: the model that is shipped: the best on validation (the simpler one when
    validation cannot tell them apart), or a named one. Every baseline always runs.
    ensemble (with ensemble.size > 1) ships the average even where it did not win."""
    lightgbm_rounds: int = Field(default=2000, ge=1)
    """TW-A08: the LightGBM baseline's maximum boosting rounds (early-stopped on validation)."""


class AuditConfig(_Section):
    """Thresholds of the audit checks (TW-D01, TW-D02, TW-D06, TW-R03).

    Example:
        >>> AuditConfig(outlier_z=5.0).outlier_z
        5.0
    """

    allow: list[str] = Field(default_factory=list)
    """Finding ids of error severity the user accepts (--allow ID): fit proceeds, and the
    manifest records what was allowed."""
    evidence_limit: int = Field(default=20, ge=1)
    """Row indices, columns or groups listed in one finding's evidence (counts stay
    complete)."""
    missing_warn_fraction: float = Field(default=0.05, ge=0.0, le=1.0)
    """TW-D01: a column missing more than this share of its values is a warning (Deepchecks'
    PercentOfNulls default); fewer is info."""
    near_constant_ratio: float = Field(default=19.0, gt=1.0)
    """TW-D01: near-zero variance as caret's nearZeroVar defines it: the most common value is
    more than this many times as frequent as the second (95/5) ..."""
    near_constant_unique_fraction: float = Field(default=0.10, gt=0.0, le=1.0)
    """TW-D01: ... and under this share of the values are distinct (caret's nearZeroVar)."""
    high_cardinality: int = Field(default=50, ge=2)
    """TW-D01: a categorical with more distinct values is high-cardinality (ydata-profiling's
    cardinality_threshold)."""
    outlier_z: float = Field(default=3.5, gt=0.0)
    """TW-D01: |modified z-score| above this marks a potential outlier (Iglewicz & Hoaglin,
    1993)."""
    label_error_max_rows: int = Field(default=10_000, ge=100)
    """TW-D02: label errors are searched in at most this many rows (a random sample above)."""
    label_error_warn_fraction: float = Field(default=0.03, ge=0.0, le=1.0)
    """TW-D02: flagged rows above this share are a warning (test sets carry 3.3% label errors
    on average: Northcutt et al., 2021); fewer are info."""
    near_duplicate_digits: int = Field(default=4, ge=1, le=15)
    """TW-D06: rows equal after rounding numbers to this many significant digits (and
    normalizing case and whitespace in text) are near duplicates."""
    shared_rows_error_fraction: float = Field(default=0.10, ge=0.0, le=1.0)
    """TW-D06: more than this share of a validation or test split also in train blocks the
    run (Deepchecks' TrainTestSamplesMix default); less is a warning."""
    target_leakage_skill: float = Field(default=0.95, gt=0.0, le=1.0)
    """TW-D06: one feature alone reaching this out-of-fold skill (balanced accuracy rescaled
    so chance is 0) predicts a class target almost perfectly: a blocking error."""
    target_leakage_r2: float = Field(default=0.99, gt=0.0, le=1.0)
    """TW-D06: the same for a regression target, as out-of-fold R^2: almost perfectly is a
    residual spread under a tenth of the target's; honest size-driven features of panels
    reach 0.95-0.98."""
    target_leakage_rank: float = Field(default=0.99, gt=0.0, le=1.0)
    """TW-D06: |Spearman correlation| above this makes a numeric feature a monotonic
    transformation of a regression target."""
    target_leakage_max_rows: int = Field(default=20_000, ge=100)
    """TW-D06: rows used for the per-feature leakage models (a random sample above it)."""
    personal_data_fraction: float = Field(default=0.5, gt=0.0, le=1.0)
    """TW-R03: share of a column's values that must look like e-mail addresses, phone
    numbers or person names before it is reported as personal data."""

    @field_validator("allow", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        return _comma_list(value)


class DoctorConfig(_Section):
    """The training doctor inside ``fit`` (TW-X01-X08): observes, and rescues when asked."""

    enabled: bool = True
    """TW-X02-X08: diagnose the network's training live (findings.json)."""
    overfit_batch: bool = True
    """TW-X01: before training, a copy of the network must overfit one batch."""
    remedy: bool = True
    """On divergence or NaN: restore the last good epoch, lower the LR, turn clipping on."""
    remedy_lr_factor: float = Field(default=0.1, gt=0.0, lt=1.0)
    """The remedy multiplies the LR by this."""
    remedy_clip_grad_norm: float = Field(default=1.0, gt=0.0)
    """The gradient-norm clip the remedy turns on when clipping was off."""
    max_remedies: int = Field(default=3, ge=1)
    """After this many remedies the run stops, with the findings."""


class ReportConfig(_Section):
    """What the run saves for ``report.html`` and ``model_card.md`` beyond metrics (TW-E03-E06).

    Example:
        >>> ReportConfig(groups="sex,age_band").groups
        ['sex', 'age_band']
    """

    groups: list[str] = Field(default_factory=list)
    """TW-E04: sensitive or slice columns (--groups sex,age_band): test metrics per group
    (fairlearn's MetricFrame); a column may be a feature or not."""
    group_gap: float = Field(default=0.10, gt=0.0, le=1.0)
    """TW-E04: a gap in test accuracy between groups this large is a finding
    (classification)."""
    group_gap_relative: float = Field(default=0.5, gt=0.0)
    """TW-E04: regression: a spread of the groups' MAE this large, as a fraction of the
    overall MAE, is a finding."""
    min_group_size: int = Field(default=20, ge=1)
    """TW-E04: groups with fewer test rows are listed but not judged (too noisy)."""
    bootstrap: int = Field(default=1999, ge=0)
    """TW-E03: resamples for the 95% BCa bootstrap intervals (scipy; accuracy's Wilson
    interval needs none); 0 turns the bootstrap off."""
    importance_repeats: int = Field(default=5, ge=1)
    """TW-E05: repeats of the permutation importance on the validation split."""
    importance_max_rows: int = Field(default=2000, ge=50)
    """TW-E05: the permutation importance uses at most this many validation rows."""
    explain_examples: int = Field(default=3, ge=0, le=10)
    """TW-E05: validation examples explained with Shapley-value attributions (captum)."""
    input_sample: int = Field(default=48, ge=1, le=500)
    """TW-D13: training rows shown as the network's input layer sees them."""
    energy: bool = True
    """TW-R04: measure the run's energy and carbon with codecarbon (offline)."""
    country: str = Field(default="USA", min_length=3, max_length=3)
    """TW-R04: the grid whose average carbon intensity is used (ISO 3166 alpha-3)."""
    license: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9.+-]*$", max_length=64)
    """The model card's license, a Hugging Face license id (apache-2.0, mit, cc-by-4.0, ...);
    None writes license: other, unspecified (trainwell cannot know the data's terms)."""

    @field_validator("groups", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        return _comma_list(value)


class LoggingConfig(_Section):
    tensorboard: bool = True
    """TW-M02: write TensorBoard logs to RUN_DIR/tensorboard/."""
    progress: bool = True
    """Show a progress bar while training."""
    log_every: int = Field(default=10, ge=1)
    """TW-M02: optimizer steps between TensorBoard's step scalars (loss, LR, gradient
    norm)."""
    histogram_every: int = Field(default=200, ge=0)
    """TW-M04: steps between per-layer weight, gradient and activation statistics and
    histograms in TensorBoard (0: never); sparse, as each copies every parameter."""
    mlflow: str | None = None
    """TW-M05: also log params and per-epoch metrics to MLflow: a tracking URI
    (sqlite:///mlflow.db) or a local folder; None: off (pip install "trainwell[mlflow]")."""


class EnsembleConfig(_Section):
    size: int = Field(default=1, ge=1, le=20)
    """TW-H04: average this many networks (trainwell.ensemble); kept only when the average
    beats the best single one on validation. 1 is off."""
    method: Literal["seeds", "snapshot", "trials"] = "seeds"
    """seeds: K networks from different seeds (TW-H04; each member costs a full training);
    snapshot: the last K end-of-cycle weights of the run's own training under
    train.schedule=cosine_restarts (TW-H05, Huang et al. 2017; no extra training); trials:
    the top K trials of `trainwell tune --ensemble K` (set by tune, not by hand)."""
    trials: list[dict[str, Any]] = Field(default_factory=list)
    """trials: the searched keys of the 2nd..Kth best tune trials (written by trainwell tune
    --ensemble K); each is trained on the training split beside the best one."""

    @model_validator(mode="after")
    def _members(self) -> EnsembleConfig:
        if self.method == "trials" and self.size > 1 and len(self.trials) != self.size - 1:
            raise PydanticCustomError(
                "choice",
                "ensemble.method=trials is set by `trainwell tune --ensemble K`, with the "
                f"other trials' keys in ensemble.trials ({len(self.trials)} for size "
                f"{self.size}); use ensemble.method=seeds or snapshot",
            )
        return self


class FitConfig(_Section):
    """The fully resolved configuration of one ``trainwell fit`` run."""

    seed: int = 0
    """TW-R01: the seed of every random stream (split, initial weights, batches, augment)."""
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
    image: ImageOptions = Field(default_factory=ImageOptions)
    text: TextOptions = Field(default_factory=TextOptions)
    series: SeriesOptions = Field(default_factory=SeriesOptions)
    ensemble: EnsembleConfig = Field(default_factory=EnsembleConfig)

    @model_validator(mode="after")
    def _ensemble_needs(self) -> FitConfig:
        if self.baselines.ship == "ensemble" and self.ensemble.size < 2:
            raise PydanticCustomError(
                "choice",
                "baselines.ship=ensemble needs an ensemble: set ensemble.size to 2 or more",
            )
        if (
            self.ensemble.method == "snapshot"
            and self.ensemble.size > 1
            and not isinstance(self.train.schedule, CosineRestartsOptions)
        ):
            raise PydanticCustomError(
                "choice",
                "ensemble.method=snapshot takes its members at the ends of cosine cycles: "
                "set train.schedule=cosine_restarts (and train.schedule.cycle_epochs)",
            )
        return self


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
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        # train.schedule=step, then train.schedule.gamma=0.5: the name becomes {"name": ...}
        if isinstance(child, str) and _check_key(".".join(parts[: i + 1])):
            child = node[part] = {"name": child}
        if not isinstance(child, dict):
            raise ConfigError(f"override {key!r}: {part!r} is a value, not a section")
        node = child
    last = parts[-1]
    if isinstance(value, str) and isinstance(node.get(last), dict) and _check_key(key):
        node[last]["name"] = value  # a choice's name, its keys given before it kept
    else:
        node[last] = value


def _get_path(tree: dict[str, Any], key: str) -> Any:
    node: Any = tree
    for part in key.split("."):
        node = node[part]
    return node


def _merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for name, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(name), dict):
            _merge(into[name], value)
        else:
            into[name] = value


def _check_key(key: str) -> bool:
    """Reject unknown keys with a "did you mean" before pydantic's longer message; True when
    ``key`` reaches a choice (``train.optimizer``, ``train.schedule``)."""
    fields: dict[str, FieldInfo] = FitConfig.model_fields
    parts = key.split(".")
    for i, part in enumerate(parts):
        if part not in fields:
            where = ".".join(parts[:i]) or "the top level"
            raise ConfigError(
                f"unknown config key {key!r}: no {part!r} in {where}"
                f"{did_you_mean(part, fields)}; see `trainwell fit --help` for the keys"
            )
        annotation = fields[part].annotation
        variants = choice_variants(fields[part])
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            fields = annotation.model_fields
        elif variants:
            if i == len(parts) - 1:
                return True
            # Any variant's key passes here; the choice itself says which variant reads it.
            fields = {n: f for v in variants for n, f in v.model_fields.items()}
        elif i < len(parts) - 1:
            raise ConfigError(f"unknown config key {key!r}: {part!r} has no sub-keys")
    return False


def _forget_renamed_choices(tree: dict[str, Any], pairs: list[tuple[str, Any]]) -> None:
    """Drop a choice's keys from ``tree`` (an earlier source) where ``pairs`` (a later one)
    name another variant: a base config's ``train.schedule.factor`` (plateau) must not follow
    ``train.schedule=step`` from an override. Keys given together with the new name stay."""
    for key, value in pairs:
        if key.endswith(".name"):
            key = key.removesuffix(".name")
        if not isinstance(value, str) or "." not in key or not _check_key(key):
            continue
        *path, last = key.split(".")
        node: Any = tree
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        chosen = node.get(last) if isinstance(node, dict) else None
        if isinstance(chosen, dict) and chosen.get("name") != value:
            del node[last]


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


class DataSpec(TypedDict, total=False):
    """What the data is, besides its target: the task and the columns that shape the split
    and choose the modality. One definition shared from the CLI (``--task``, ``--group``,
    ``--time``, ``--text``, ``--series``) to the Python API (``trainwell.fit``,
    ``trainwell.lr_find``: ``**spec``); each is the ``data.`` config key of the same name,
    and None leaves the config's value."""

    task: str | None
    group: str | None
    time: str | None
    text: str | None
    series: str | None


def options_config(
    config_file: str | Path | None = None,
    overrides: Sequence[str] = (),
    *,
    target: str | None = None,
    seed: int | None = None,
    spec: DataSpec | None = None,
    **options: Any,
) -> FitConfig:
    """The config that ``fit``, ``audit`` and ``lr-find`` resolve from their shared options
    (``--target``, the :class:`DataSpec` and ``--seed`` win over ``--config`` and
    ``key=value`` overrides; ``options`` as for :func:`build_config`)."""
    columns: dict[str, Any] = {f"data__{key}": value for key, value in (spec or {}).items()}
    return build_config(
        config_file=config_file,
        overrides=list(overrides),
        data__target=target,
        seed=seed,
        **columns,
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
        _forget_renamed_choices(tree, [(k, _get_path(file_tree, k)) for k in _flatten(file_tree)])
        _merge(tree, file_tree)
    pairs: list[tuple[str, Any]] = []
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(
                f"malformed override {item!r}: write key=value, for example train.lr=3e-4"
            )
        key, _, raw = item.partition("=")
        key = key.strip()
        _check_key(key)
        pairs.append((key, parse_value(raw)))
    _forget_renamed_choices(tree, pairs)
    for key, value in pairs:
        _set_path(tree, key, value)
    for name, value in options.items():
        if value is not None:
            key = name.replace("__", ".")
            _check_key(key)
            _set_path(tree, key, value)
    try:
        return FitConfig.model_validate(tree)
    except ValidationError as err:
        first = err.errors()[0]
        if first["type"] == "choice":  # already names the key and what to do
            raise ConfigError(first["msg"]) from None
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"invalid config value for {where}: {first['msg']} (got {first.get('input')!r})"
        ) from None


# The sections whose keys only some modalities read (each modality lists its own).
MODALITY_SECTIONS = ("model", "augment", "data", "image", "text", "series")
# Keys of those sections that every modality reads.
_ALWAYS = frozenset({"data.target", "data.task", "augment.enabled"})


def _changed(part: BaseModel, key: str) -> bool:
    """Set by the user to something else than its default (a key at its default changes
    nothing, as in a config.json that lists every key)."""
    default = type(part).model_fields[key].get_default(call_default_factory=True)
    return key in part.model_fields_set and getattr(part, key) != default


def check_applicable(cfg: FitConfig, modality: str, options: frozenset[str]) -> None:
    """Refuse a key the user set that would have no effect on this run, with the reason: the
    LR range test's keys with a fixed ``train.lr``, or a key of a section in
    ``MODALITY_SECTIONS`` that this modality does not read (``options``: the keys it does).
    A schedule's or an optimizer's key under another choice is refused while parsing.

    Raises:
        ConfigError: one line naming the key, why it has no effect and what to do.
    """
    if cfg.train.lr is not None:
        for key in ("lr_find_method", "lr_find_steps"):
            if _changed(cfg.train, key):
                raise ConfigError(
                    f"train.{key} has no effect with train.lr={cfg.train.lr:g}: the LR range "
                    "test only runs when train.lr=auto; remove one of them"
                )
    for section in MODALITY_SECTIONS:
        part = getattr(cfg, section)
        for key in sorted(part.model_fields_set):
            name = f"{section}.{key}"
            if name in _ALWAYS or name in options or not _changed(part, key):
                continue
            read = sorted(o for o in options if o.startswith(section + "."))
            raise ConfigError(
                f"{name} has no effect on {modality} data; the {modality} modality reads "
                + (", ".join(read) if read else f"no {section}.* key")
                + " (see `trainwell fit --help`)"
            )
