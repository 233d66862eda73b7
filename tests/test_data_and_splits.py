"""Task and column-kind inference, and the three ways of splitting (TW-D03, TW-D04)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import mixed_frame

from trainwell.config import DataConfig, SplitConfig
from trainwell.data import build_dataset
from trainwell.errors import DataError
from trainwell.split import make_splits


def dataset(frame: pd.DataFrame, **cfg: object):
    return build_dataset(frame, DataConfig(**cfg), "test", "0" * 64)


def test_column_kinds_are_inferred_from_values() -> None:
    ds = dataset(mixed_frame(100), target="label")
    kinds = {c.name: c.kind for c in ds.features}
    assert kinds == {
        "x1": "numeric",
        "x2": "numeric",
        "color": "categorical",
        "city": "categorical",
        "flag": "boolean",
        "when": "datetime",
    }
    assert ds.task == "binary"
    assert ds.classes == ("neg", "pos")


@pytest.mark.parametrize(
    ("values", "task", "expected"),
    [
        ([0, 1, 2, 1, 0] * 10, "auto", "multiclass"),
        ([0.5, 1.7, 2.2, 3.9, 0.1] * 10, "auto", "regression"),
        (list(range(50)), "auto", "regression"),  # 50 distinct integers: more than max_classes
        (list(range(50)), "classification", "multiclass"),
        (["a", "b"] * 25, "auto", "binary"),
        ([True, False] * 25, "auto", "binary"),
    ],
)
def test_task_inference_and_override(values: list[object], task: str, expected: str) -> None:
    frame = pd.DataFrame({"x": np.arange(len(values)), "y": values})
    assert dataset(frame, target="y", task=task).task == expected


def test_rows_without_a_target_are_dropped_with_a_finding() -> None:
    frame = mixed_frame(100)
    frame.loc[[3, 7], "label"] = None
    ds = dataset(frame, target="label")
    assert ds.n_rows == 98
    assert [f.id for f in ds.findings] == ["missing-target"]
    assert ds.findings[0].evidence["first_rows"] == [3, 7]


def test_binary_task_on_three_classes_is_an_error() -> None:
    frame = pd.DataFrame({"x": range(30), "y": [0, 1, 2] * 10})
    with pytest.raises(DataError, match="use --task multiclass"):
        dataset(frame, target="y", task="binary")


def test_stratified_split_is_80_10_10_and_keeps_class_rates() -> None:
    frame = mixed_frame(1000)
    ds = dataset(frame, target="label")
    s = make_splits(ds, SplitConfig(), seed=0)
    assert (len(s.train), len(s.validation), len(s.test)) == (800, 100, 100)
    rates = [ds.y[idx].mean() for idx in (s.train, s.validation, s.test)]
    assert max(rates) - min(rates) < 0.02
    assert s.method == "stratified"


def test_group_split_keeps_each_group_in_one_split() -> None:
    frame = mixed_frame(600).assign(customer=np.repeat(np.arange(60), 10))
    ds = dataset(frame, target="label", group="customer")
    s = make_splits(ds, SplitConfig(), seed=0)
    groups = [set(frame["customer"].iloc[idx]) for idx in (s.train, s.validation, s.test)]
    assert not groups[0] & groups[1]
    assert not groups[0] & groups[2]
    assert not groups[1] & groups[2]
    assert "customer" not in {c.name for c in ds.features}  # a key, not a feature


def test_time_split_trains_on_the_past_and_tests_on_the_future() -> None:
    frame = mixed_frame(500).sample(frac=1.0, random_state=0).reset_index(drop=True)
    ds = dataset(frame, target="label", time="when")
    s = make_splits(ds, SplitConfig(), seed=0)
    stamps = pd.to_datetime(frame["when"])
    assert stamps.iloc[s.train].max() < stamps.iloc[s.validation].min()
    assert stamps.iloc[s.validation].max() < stamps.iloc[s.test].min()


def test_time_split_never_puts_one_timestamp_in_two_splits() -> None:
    frame = pd.DataFrame(
        {"t": np.repeat(np.arange(50), 4), "x": np.arange(200.0), "y": np.arange(200.0)}
    )
    ds = dataset(frame, target="y", time="t")
    s = make_splits(ds, SplitConfig(), seed=0)
    sets = [set(frame["t"].iloc[idx]) for idx in (s.train, s.validation, s.test)]
    assert not sets[0] & sets[1]
    assert not sets[1] & sets[2]


def test_split_hashes_depend_on_content() -> None:
    frame = mixed_frame(200)
    ds = dataset(frame, target="label")
    s = make_splits(ds, SplitConfig(), seed=0)
    same = make_splits(dataset(frame.copy(), target="label"), SplitConfig(), seed=0)
    assert s.hashes(ds) == same.hashes(ds)
    changed = frame.copy()
    changed.loc[s.test[0], "x1"] += 1.0
    assert s.hashes(dataset(changed, target="label"))["test"] != s.hashes(ds)["test"]
    assert s.hashes(dataset(changed, target="label"))["train"] == s.hashes(ds)["train"]


def test_too_few_groups_is_an_error() -> None:
    frame = mixed_frame(100).assign(g=[0, 1] * 50)
    with pytest.raises(DataError, match="at least 3 groups"):
        make_splits(dataset(frame, target="label", group="g"), SplitConfig(), seed=0)
