"""Shared data for the audit tests: a clean table every check must stay silent on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from trainwell.config import DataConfig, SplitConfig
from trainwell.data import Dataset, build_dataset
from trainwell.split import Splits, make_splits


def clean_frame(n_rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """Uniform numbers (no tails), a small categorical, and a label that needs two features.

    The label is ``a + b > 1`` with rows near the boundary removed, so it is learnable
    without label noise, yet no single feature predicts it (no target leakage).
    """
    rng = np.random.default_rng(seed)
    rows = []
    while len(rows) < n_rows:
        a, b, c = rng.random(3)
        if abs(a + b - 1) < 0.1:
            continue
        rows.append((a, b, c, ["red", "green", "blue"][rng.integers(3)], a + b > 1))
    frame = pd.DataFrame(rows, columns=["a", "b", "c", "color", "label"])
    frame["label"] = frame["label"].map({True: "yes", False: "no"})
    return frame


def dataset_of(frame: pd.DataFrame, target: str = "label", **options: Any) -> Dataset:
    return build_dataset(frame, DataConfig(target=target, **options), "test", "-")


def split(dataset: Dataset, seed: int = 0) -> Splits:
    return make_splits(dataset, SplitConfig(), seed)


@pytest.fixture(scope="session")
def make_dataset() -> Callable[..., Dataset]:
    """``make_dataset(frame, target="label", group=..., time=...)``: a typed Dataset."""
    return dataset_of


@pytest.fixture(scope="session")
def make_split() -> Callable[..., Splits]:
    """``make_split(dataset, seed=0)``: trainwell's default 80/10/10 split."""
    return split


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    return clean_frame()


@pytest.fixture(scope="module")
def clean_dataset(clean: pd.DataFrame) -> Dataset:
    return dataset_of(clean)


@pytest.fixture(scope="module")
def clean_splits(clean_dataset: Dataset) -> Splits:
    return split(clean_dataset)
