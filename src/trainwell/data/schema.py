"""The typed dataset value: task, target encoding and the kind of every feature column.

Kinds are inferred from the values (not just the dtype) so that a CSV's "yes"/"no" column is a
boolean and a column of ISO dates is a datetime. Every decision can be overridden from config.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from trainwell.config import DataConfig, Task
from trainwell.data.guard import guard_frame, refuse_many_classes
from trainwell.data.identity import names_rows
from trainwell.errors import DataError, require_column
from trainwell.findings import Finding

Kind = Literal["numeric", "categorical", "boolean", "datetime"]
TRUE_WORDS = frozenset({"true", "yes", "y", "t"})
FALSE_WORDS = frozenset({"false", "no", "n", "f"})


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: Kind


@dataclass
class Dataset:
    """Rows that have a target, the encoded target and the feature schema.

    ``y`` holds class indices into ``classes`` for classification, floats for regression.
    """

    frame: pd.DataFrame
    target: str
    task: Task
    features: tuple[ColumnSpec, ...]
    y: np.ndarray
    classes: tuple[Any, ...] | None
    source: str
    sha256: str
    group: str | None = None
    time: str | None = None
    findings: list[Finding] = field(default_factory=list)
    # A sample of a larger file (trainwell.streaming): each row's row number in the file;
    # the split is then a hash of it (or of the group value), as the streamed rows' is.
    row_ids: np.ndarray | None = None

    @property
    def n_rows(self) -> int:
        return len(self.frame)

    @property
    def is_classification(self) -> bool:
        return self.task != "regression"


def _python(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _parses_as_datetime(values: pd.Series) -> bool:
    sample = values.dropna().astype(str).head(200)
    if sample.empty or sample.str.fullmatch(r"[+-]?\d+(\.\d+)?").all():
        return False  # plain numbers are numbers, not epoch timestamps
    try:
        parsed = pd.to_datetime(sample, errors="coerce", format="ISO8601")
    except (ValueError, TypeError):  # e.g. mixed time zones left as text
        return False
    return bool(parsed.notna().all())


def infer_kind(values: pd.Series) -> Kind:
    """The kind of one feature column, decided from its non-missing values."""
    present = values.dropna()
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "datetime"
    if pd.api.types.is_numeric_dtype(values):
        return "numeric"
    words = set(present.astype(str).str.strip().str.lower().unique()[:3])
    if words and words <= TRUE_WORDS | FALSE_WORDS and len(words) <= 2:
        return "boolean"
    if pd.to_numeric(present, errors="coerce").notna().all():
        return "numeric"
    if _parses_as_datetime(present):
        return "datetime"
    return "categorical"


def check_columns(frame: pd.DataFrame, cfg: DataConfig) -> None:
    """Refuse a config that names no target, or a column ``frame`` lacks (the target,
    ``--text``, ``--series``, ``--group``, ``--time``, ``data.drop``); ``frame`` may be the
    table's first rows.

    Raises:
        DataError: naming the option and the column, with the table's columns.
    """
    if not cfg.target:
        raise DataError("no target column given; pass --target COLUMN")
    named = {"target": cfg.target, "--text": cfg.text, "--series": cfg.series}
    named |= {"--group": cfg.group, "--time": cfg.time}
    for option, name in [*named.items(), *(("data.drop", n) for n in cfg.drop)]:
        if name is not None:
            require_column(frame.columns, name, option)


def check_group_columns(frame: pd.DataFrame, groups: Sequence[str], target: str) -> None:
    """Refuse a ``--groups`` column (the report's per-group metrics, TW-E04) that ``frame``
    lacks or that is the target; ``frame`` may be the table's first rows.

    Raises:
        DataError: a column is missing or is the target.
    """
    for name in groups:
        if name == target:
            raise DataError(f"--groups column {name!r} is the target; name a feature or slice")
        require_column(frame.columns, name, "--groups")


# A class needs a row in each of train, validation and test (TW-D03).
MIN_ROWS_PER_CLASS = 3


def _measured_quantity(y: pd.Series) -> str | None:
    """Why integer values read as a measured quantity rather than class codes, or ``None``.

    Class codes are few, consecutive (0..4, 1..10) and each fills several rows. Integer
    measurements (weights in pounds, counts) on a small table are spread out: most values occur
    once or twice, which no stratified split can hold as classes (linnerud's ``Weight``: 17
    values in 20 rows).
    """
    counts = y.value_counts()
    values = counts.index.to_numpy(dtype=float)
    consecutive = values.max() - values.min() + 1 == len(counts)
    rare = int((counts < MIN_ROWS_PER_CLASS).sum())
    if consecutive or rare * 2 <= len(counts):
        return None
    return (
        f"{len(counts)} distinct integers between {values.min():g} and "
        f"{values.max():g}, {rare} of them in fewer than {MIN_ROWS_PER_CLASS} rows"
    )


def _require_variation(y: pd.Series, target: str | None) -> None:
    """A regression target must vary: a constant one leaves nothing to learn, and R² (one
    minus the error over the target's variance) is undefined."""
    values = pd.to_numeric(y, errors="coerce").dropna()
    if len(values) and values.nunique() < 2:
        raise DataError(
            f"target {target!r} holds the same value ({_python(values.iloc[0])!r}) in every "
            "row; a regression needs a target that varies"
        )


def _infer_task(y: pd.Series, cfg: DataConfig) -> tuple[Task, str | None]:
    """The task, and the reason when ``auto`` read small integers as a regression target."""
    numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
    if cfg.task == "regression":
        if not numeric:
            converted = pd.to_numeric(y, errors="coerce")
            bad = y[converted.isna()]
            if len(bad):
                raise DataError(
                    f"--task regression needs a numeric target, but {cfg.target!r} holds "
                    f"{bad.iloc[0]!r}; use --task classification or fix the column"
                )
        _require_variation(y, cfg.target)
        return "regression", None
    n_classes = y.nunique()
    if cfg.task == "auto":
        integral = numeric and bool(np.all(np.mod(y.to_numpy(dtype=float), 1) == 0))
        if numeric and not (integral and n_classes <= cfg.max_classes):
            _require_variation(y, cfg.target)
            return "regression", None
        if integral and (reason := _measured_quantity(y)) is not None:
            return "regression", reason
    if n_classes < 2:
        raise DataError(
            f"target {cfg.target!r} has a single class ({_python(y.iloc[0])!r}); "
            "classification needs at least two classes"
        )
    task: Task = "binary" if n_classes == 2 else "multiclass"
    if cfg.task in {"binary", "multiclass"} and cfg.task != task:
        raise DataError(
            f"--task {cfg.task} does not fit target {cfg.target!r} with {n_classes} classes; "
            f"use --task {task}"
        )
    return task, None


def _naming_finding(naming: dict[str, str]) -> Finding:
    names = list(naming)
    personal = any("person names" in r for r in naming.values())
    return Finding(
        id="row-names-dropped",
        practice="TW-R03" if personal else "TW-D01",
        severity="warning",
        stage="audit",
        message=f"{len(names)} column(s) name individual rows and were left out of the "
        f"features: {', '.join(f'{n!r} ({r})' for n, r in list(naming.items())[:3])}. "
        "A model can only memorize such a column"
        + (", and person names are personal data (TW-R03)." if personal else " (TW-D01)."),
        evidence={"columns": naming},
        fix="Nothing to do if the column is an identifier. To use what it holds, derive a "
        "coarser column from it (a title or family name, a prefix of a code) and pass that.",
    )


def build_dataset(
    frame: pd.DataFrame,
    cfg: DataConfig,
    source: str,
    sha256: str,
    *,
    keys: tuple[str, ...] = (),
) -> Dataset:
    """Validate a raw table against the data config and return the typed :class:`Dataset`.

    ``keys`` are columns that name the examples of another modality (an image's path): the
    model reads what they point to, so they are never left out as row names.

    Raises:
        DataError: an unknown column, no usable target, a single class, a constant or
            non-numeric regression target, an entirely empty column, or no feature left; and the
            refusals of :mod:`trainwell.data.guard` (non-finite target, nested target,
            more than 1000 classes, duplicate column names).
    """
    check_columns(frame, cfg)
    roles = {"--group": cfg.group, "--time": cfg.time}
    frame, findings = guard_frame(
        frame, cfg.target, {k: v for k, v in roles.items() if v is not None}
    )
    has_target = frame[cfg.target].notna()
    if not has_target.any():
        raise DataError(f"target column {cfg.target!r} has no values in any row")
    if not has_target.all():
        missing = int((~has_target).sum())
        findings.append(
            Finding(
                id="missing-target",
                practice="TW-D01",
                severity="warning",
                stage="audit",
                message=f"{missing} rows have no value in the target {cfg.target!r}; "
                "they were left out of training and evaluation.",
                evidence={"rows": missing, "first_rows": frame.index[~has_target][:10].tolist()},
                fix="Fill in the missing labels, or remove those rows yourself to silence this.",
            )
        )
    frame = frame.loc[has_target].reset_index(drop=True)

    task, measured = _infer_task(frame[cfg.target], cfg)
    if measured is not None:
        findings.append(
            Finding(
                id="task-inferred",
                practice="TW-E01",
                severity="info",
                stage="audit",
                message=f"target {cfg.target!r} was read as a regression target: {measured}, "
                "which reads as a measured quantity, not class labels.",
                evidence={
                    "distinct_values": int(frame[cfg.target].nunique()),
                    "rows": len(frame),
                },
                fix="If the values are class codes, pass --task classification (each class "
                f"needs at least {MIN_ROWS_PER_CLASS} rows).",
            )
        )
    classes: tuple[Any, ...] | None = None
    if task == "regression":
        y = pd.to_numeric(frame[cfg.target], errors="coerce").to_numpy(dtype=np.float64)
    else:
        labels = frame[cfg.target]
        uniques = labels.unique().tolist()
        refuse_many_classes(cfg.target, len(uniques))
        try:
            ordered = sorted(uniques)
        except TypeError:
            ordered = sorted(uniques, key=str)
        classes = tuple(_python(c) for c in ordered)
        index = {c: i for i, c in enumerate(ordered)}
        y = labels.map(index).to_numpy(dtype=np.int64)

    excluded = {cfg.target, cfg.group, cfg.time, *cfg.drop}
    # A text or series column given with --text/--series is the input itself, not a category.
    raw_inputs = {cfg.text, cfg.series, *keys}
    features = []
    naming: dict[str, str] = {}
    for name in frame.columns:
        if name in excluded:
            continue
        if frame[name].isna().all():
            raise DataError(
                f"column {name!r} has no values in any row; drop it from the file "
                f"or pass data.drop={name}"
            )
        kind = infer_kind(frame[name])
        reason = (
            names_rows(frame[name]) if kind == "categorical" and name not in raw_inputs else None
        )
        if reason is not None:
            naming[str(name)] = reason
            continue
        features.append(ColumnSpec(name, kind))
    if naming:
        findings.append(_naming_finding(naming))
    if not features:
        left_out = (
            f" ({', '.join(map(repr, naming))} name rows, so were left out)" if naming else ""
        )
        raise DataError(
            f"no feature columns left besides the target {cfg.target!r}{left_out}; "
            "the data needs at least one input column"
        )
    if cfg.time is not None:
        stamps = frame[cfg.time]
        if not (pd.api.types.is_numeric_dtype(stamps) or infer_kind(stamps) == "datetime"):
            raise DataError(
                f"--time column {cfg.time!r} is neither numbers nor dates "
                f"(first value {stamps.iloc[0]!r}); name a timestamp column"
            )
    return Dataset(
        frame=frame,
        target=cfg.target,
        task=task,
        features=tuple(features),
        y=y,
        classes=classes,
        source=source,
        sha256=sha256,
        group=cfg.group,
        time=cfg.time,
        findings=findings,
    )
