"""Train / validation / test splits, made before anything is fitted (TW-D03, TW-D04, TW-D07).

Classification splits are stratified; ``--group`` keeps every group inside one split; ``--time``
trains on the past and validates and tests on the future. Splits are saved as row indices
with content hashes, so a later run (or ``--resume``) can prove it uses the same rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, train_test_split

from trainwell.config import SplitConfig
from trainwell.data import Dataset
from trainwell.errors import DataError

SPLIT_NAMES = ("train", "validation", "test")
MIN_TRAIN_ROWS = 10


@dataclass(frozen=True)
class Splits:
    """Row indices (into ``Dataset.frame``) of each split, and how they were made."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    method: str

    def indices(self, name: str) -> np.ndarray:
        return {"train": self.train, "validation": self.validation, "test": self.test}[name]

    def hashes(self, dataset: Dataset) -> dict[str, str]:
        """sha256 of each split's rows (content, not just positions), for the manifest."""
        return {name: rows_sha256(dataset.frame, self.indices(name)) for name in SPLIT_NAMES}

    def to_dict(self, dataset: Dataset) -> dict[str, object]:
        return {
            "method": self.method,
            "sizes": {name: len(self.indices(name)) for name in SPLIT_NAMES},
            "hashes": self.hashes(dataset),
            **{name: self.indices(name).tolist() for name in SPLIT_NAMES},
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Splits:
        arrays = {n: np.asarray(data[n], dtype=np.int64) for n in SPLIT_NAMES}
        return cls(method=str(data["method"]), **arrays)


def rows_sha256(frame: pd.DataFrame, rows: np.ndarray) -> str:
    hashed = pd.util.hash_pandas_object(frame.iloc[np.sort(rows)], index=False)
    return hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()


def _sizes(n: int, cfg: SplitConfig) -> tuple[int, int]:
    n_val = max(1, round(n * cfg.validation))
    n_test = max(1, round(n * cfg.test))
    if n - n_val - n_test < MIN_TRAIN_ROWS:
        need = MIN_TRAIN_ROWS + 2
        raise DataError(
            f"only {n} rows: too few for a train/validation/test split "
            f"({cfg.validation:.0%}/{cfg.test:.0%} held out leaves {n - n_val - n_test} "
            f"to train on); trainwell needs at least {max(need, round(need / 0.8))} rows"
        )
    return n_val, n_test


def _stratified(dataset: Dataset, cfg: SplitConfig, seed: int) -> Splits:
    n = dataset.n_rows
    n_val, n_test = _sizes(n, cfg)
    counts = np.bincount(dataset.y)
    assert dataset.classes is not None
    rare = int(np.argmin(counts))
    if counts[rare] < 3:
        raise DataError(
            f"class {dataset.classes[rare]!r} has only {counts[rare]} row(s); a stratified "
            "split needs at least 3 per class (one per split): add rows or drop the class"
            + (
                "; if the target is a measured quantity, pass --task regression"
                if all(isinstance(c, int | float) for c in dataset.classes)
                else ""
            )
        )
    n_classes = len(counts)
    if min(n_val, n_test) < n_classes:
        raise DataError(
            f"only {n} rows for {n_classes} classes: the validation and test splits "
            f"({n_val} and {n_test} rows) cannot hold every class; add rows or raise "
            "split.validation and split.test"
        )
    rows = np.arange(n)
    rest, test = train_test_split(
        rows, test_size=n_test, stratify=dataset.y, random_state=seed, shuffle=True
    )
    train, val = train_test_split(
        rest, test_size=n_val, stratify=dataset.y[rest], random_state=seed + 1, shuffle=True
    )
    return Splits(np.sort(train), np.sort(val), np.sort(test), "stratified")


def _random(dataset: Dataset, cfg: SplitConfig, seed: int) -> Splits:
    n = dataset.n_rows
    n_val, n_test = _sizes(n, cfg)
    rest, test = train_test_split(np.arange(n), test_size=n_test, random_state=seed)
    train, val = train_test_split(rest, test_size=n_val, random_state=seed + 1)
    return Splits(np.sort(train), np.sort(val), np.sort(test), "random")


def _grouped(dataset: Dataset, cfg: SplitConfig, seed: int) -> Splits:
    assert dataset.group is not None
    groups = dataset.frame[dataset.group].astype(str).fillna("<missing>").to_numpy()
    n_groups = len(np.unique(groups))
    if n_groups < 3:
        raise DataError(
            f"--group {dataset.group!r} has {n_groups} distinct value(s); a group split "
            "needs at least 3 groups (one per split)"
        )
    _sizes(dataset.n_rows, cfg)
    rows = np.arange(dataset.n_rows)
    outer = GroupShuffleSplit(n_splits=1, test_size=cfg.test, random_state=seed)
    rest, test = next(outer.split(rows, groups=groups))
    inner_size = cfg.validation / (1.0 - cfg.test)
    inner = GroupShuffleSplit(n_splits=1, test_size=inner_size, random_state=seed + 1)
    train_pos, val_pos = next(inner.split(rest, groups=groups[rest]))
    train, val = rest[train_pos], rest[val_pos]
    if len(train) < MIN_TRAIN_ROWS:
        raise DataError(f"the group split left {len(train)} training rows; add groups or rows")
    return Splits(np.sort(train), np.sort(val), np.sort(test), f"grouped by {dataset.group!r}")


def _by_time(dataset: Dataset, cfg: SplitConfig) -> Splits:
    assert dataset.time is not None
    stamps = dataset.frame[dataset.time]
    if not pd.api.types.is_numeric_dtype(stamps):
        stamps = pd.to_datetime(stamps, errors="coerce", format="ISO8601")
    if stamps.isna().any():
        raise DataError(
            f"--time column {dataset.time!r} has {int(stamps.isna().sum())} missing or "
            "unparseable values; fill or drop those rows"
        )
    n = dataset.n_rows
    n_val, n_test = _sizes(n, cfg)
    order = np.argsort(stamps.to_numpy(), kind="stable")
    sorted_stamps = stamps.to_numpy()[order]

    def boundary(position: int) -> int:
        # Rows with the same timestamp must not straddle two splits.
        return int(np.searchsorted(sorted_stamps, sorted_stamps[position], side="left"))

    val_start = boundary(n - n_val - n_test)
    test_start = boundary(n - n_test)
    if val_start >= test_start or test_start >= n or val_start < MIN_TRAIN_ROWS:
        raise DataError(
            f"--time column {dataset.time!r} has too few distinct times to split into "
            "past (train), then validation, then test"
        )
    return Splits(
        np.sort(order[:val_start]),
        np.sort(order[val_start:test_start]),
        np.sort(order[test_start:]),
        f"by time {dataset.time!r}",
    )


def _hashed(dataset: Dataset, cfg: SplitConfig, seed: int) -> Splits:
    """A streamed table's sample: each row's split from a hash of its row number in the file
    (or of its group value), the rule the streamed training rows follow (trainwell.streaming)."""
    from trainwell.streaming import split_codes

    assert dataset.row_ids is not None
    groups = dataset.frame[dataset.group] if dataset.group is not None else None
    codes = split_codes(dataset.row_ids, seed, cfg.validation, cfg.test, groups)
    train, val, test = (np.flatnonzero(codes == code) for code in range(3))
    if len(train) < MIN_TRAIN_ROWS or not len(val) or not len(test):
        raise DataError(
            f"the sample of {dataset.n_rows} rows split {len(train)}/{len(val)}/{len(test)}; "
            "raise data.sample_rows"
        )
    how = f"group {dataset.group!r}" if dataset.group else "row number"
    return Splits(train, val, test, f"hash of the {how} (streamed)")


def make_splits(dataset: Dataset, cfg: SplitConfig, seed: int) -> Splits:
    """Split the dataset: by time, by group, stratified (classification) or at random.

    Raises:
        DataError: too few rows, a class too rare to stratify, or too few groups or times.
    """
    if dataset.row_ids is not None:
        return _hashed(dataset, cfg, seed)
    if dataset.time is not None:
        return _by_time(dataset, cfg)
    if dataset.group is not None:
        return _grouped(dataset, cfg, seed)
    if dataset.is_classification:
        return _stratified(dataset, cfg, seed)
    return _random(dataset, cfg, seed)
