"""Shared fixtures: seeded tests, sklearn's bundled datasets written as CSV files."""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn import datasets


def _threads_per_worker() -> int:
    """Cores shared out between ``pytest -n N`` workers: oversubscribed OpenMP threads spin-wait
    for each other, which made the suite many times slower on CI's two cores."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return max(1, (os.cpu_count() or 1) // workers)


# Subprocesses (the CLI tests run ``python -m trainwell``) inherit this: torch and LightGBM
# read OMP_NUM_THREADS when they start.
os.environ.setdefault("OMP_NUM_THREADS", str(_threads_per_worker()))

# A suite started in the background of a non-interactive shell (`./scripts/check &`) inherits
# SIGINT ignored (POSIX), and so would every process a test starts: the Ctrl-C tests would
# wait forever on a child that cannot hear it. Python's own default handler instead: a child
# gets the default action back at exec.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def _threads() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def one_thread_per_process() -> Iterator[None]:
    """OMP_NUM_THREADS=1 for the processes a module's tests launch: two processes of two
    OpenMP threads each on two cores spin against each other."""
    before = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    yield
    if before is None:
        del os.environ["OMP_NUM_THREADS"]
    else:
        os.environ["OMP_NUM_THREADS"] = before


@pytest.fixture(autouse=True)
def _seed() -> None:
    random.seed(0)
    np.random.seed(0)  # noqa: NPY002 - tests must not depend on leftover global RNG state
    torch.manual_seed(0)


LOADERS: dict[str, Callable[..., object]] = {
    "breast_cancer": datasets.load_breast_cancer,
    "wine": datasets.load_wine,
    "diabetes": datasets.load_diabetes,
    "digits": datasets.load_digits,
}


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """breast_cancer.csv, wine.csv, diabetes.csv (target column ``target``)."""
    folder = tmp_path_factory.mktemp("data")
    for name in ("breast_cancer", "wine", "diabetes"):
        bunch = LOADERS[name](as_frame=True)
        bunch.frame.to_csv(folder / f"{name}.csv", index=False)  # type: ignore[attr-defined]
    return folder


def mixed_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A table with every column kind, missing values and a learnable binary target."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(loc=50, scale=10, size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    city = rng.choice([f"city{i}" for i in range(30)], size=n)
    flag = rng.choice(["yes", "no"], size=n)
    when = pd.date_range("2024-01-01", periods=n, freq="D").astype(str)
    logit = 2 * x1 + 0.1 * (x2 - 50) + (color == "red") * 1.5 - 0.5
    label = np.where(logit + rng.normal(scale=0.5, size=n) > 0, "pos", "neg")
    frame = pd.DataFrame(
        {
            "x1": x1,
            "x2": x2,
            "color": color,
            "city": city,
            "flag": flag,
            "when": when,
            "label": label,
        }
    )
    frame.loc[rng.choice(n, n // 10, replace=False), "x2"] = np.nan
    frame.loc[rng.choice(n, n // 20, replace=False), "color"] = None
    return frame
