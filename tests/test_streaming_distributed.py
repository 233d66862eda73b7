"""A streamed Parquet file trained by two gloo processes (TW-T14):
``trainwell fit big.parquet --target y --devices 2 data.streaming=on``.

Every rank reads the same row groups in the same seeded order and takes every second row of
each global batch (trainwell.streaming.StreamedData), so the two processes at 16 rows each
take the optimizer steps one process takes at 32 rows. What holds exactly: the same number
of steps over the same rows; the weights then agree to float32 rounding (each rank averages
its 16 rows' gradients, gloo averages the two means). The file is chosen so that the last
global batch of an epoch (474 training rows = 14 x 32 + 26) splits evenly, 13 rows per rank:
an odd remainder would give one rank a row more, and DDP's equal-weight average of the two
ranks' means would then differ from one process's mean over that batch by more than rounding.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import run_subprocess
from safetensors.torch import load_file

import trainwell
from trainwell.streaming import TRAIN, split_codes

# Every test that starts gloo process groups runs on one xdist worker, one at a time
# (scripts/check: --dist loadgroup): two jobs at once on this machine sometimes abort at
# interpreter exit in torch 2.13 ("terminate called without an active exception").
pytestmark = [pytest.mark.usefixtures("one_thread_per_process"), pytest.mark.xdist_group("gloo")]

ROWS, GROUP_ROWS, BATCH = 600, 100, 32
SETTINGS = [
    "data.streaming=on",
    "data.sample_rows=300",
    f"train.batch_size={BATCH}",
    "train.max_epochs=2",
    "train.lr=0.01",
    "model.dropout=0",  # dropout draws differ per process; the parity holds without it
    "baselines.ship=network",
    "baselines.lightgbm_rounds=10",
    "logging.progress=false",
    "report.bootstrap=0",
    "report.importance_repeats=1",
    "report.energy=false",
]
ATOL = 1e-5  # float32 sums in another order (as in test_distributed.py)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(ROWS, 3)), columns=list("abc"))
    frame["color"] = rng.choice(["red", "green", "blue"], ROWS)
    frame["y"] = (
        frame["a"] - 2 * frame["b"] + (frame["color"] == "red") + 0.1 * rng.normal(size=ROWS)
    )
    path = tmp_path_factory.mktemp("streamed_ddp") / "big.parquet"
    frame.to_parquet(path, row_group_size=GROUP_ROWS, index=False)
    return path


@pytest.fixture(scope="module")
def one(big: Path) -> trainwell.Run:
    """One process at the global batch of 32."""
    return trainwell.fit(
        str(big), target="y", out=big.parent / "one", overrides=SETTINGS, quiet=True
    )


@pytest.fixture(scope="module")
def two(big: Path) -> Path:
    """``--devices 2`` (16 rows per process) in a folder of its own, with the default run
    directory: a second rank that wrote anything would leave it there."""
    cwd = big.parent / "two"
    cwd.mkdir()
    done = run_subprocess(["fit", str(big), "--target", "y", "--devices", "2", *SETTINGS], cwd)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("baselines: dummy") == 1  # one rank prints
    assert sorted(p.name for p in cwd.iterdir()) == ["runs"]
    (run,) = [p for p in (cwd / "runs").iterdir() if not p.name.startswith(".")]
    return run


def test_the_last_batch_splits_evenly_over_two_ranks() -> None:
    n_train = int((split_codes(np.arange(ROWS), 0, 0.1, 0.1) == TRAIN).sum())
    assert (n_train, n_train % BATCH) == (474, 26)  # 14 full batches and 13 + 13 rows


def test_two_streaming_processes_train_the_weights_of_one_at_twice_the_batch(
    one: trainwell.Run, two: Path
) -> None:
    single = load_file(str(one.path / "model" / "weights.safetensors"))
    double = load_file(str(two / "model" / "weights.safetensors"))
    assert single.keys() == double.keys()
    for key in single:
        assert torch.allclose(single[key], double[key], rtol=0, atol=ATOL), key
    manifests = [json.loads((p / "manifest.json").read_text()) for p in (one.path, two)]
    net1, net2 = (m["network"] for m in manifests)
    assert net2["processes"] == 2
    assert (net2["batch_size_per_process"], net2["global_batch_size"]) == (16, BATCH)
    assert net1["steps"] == net2["steps"] == 2 * 15
    streamed = [m["modality"]["streaming"] for m in manifests]
    assert streamed[0] == streamed[1]
    assert streamed[0]["train_rows_streamed"] == 474
    assert streamed[0]["row_groups"] == ROWS // GROUP_ROWS
    # The test metrics: every test row of the file, on rank 0 alone, from equal weights.
    metrics = json.loads((two / "metrics.json").read_text())
    assert metrics["test_split"]["rows"] == one.metrics["test_split"]["rows"]
    for key, value in one.metrics["test"].items():
        assert metrics["test"][key] == pytest.approx(value, rel=1e-4), key


def test_only_rank_0_writes_the_streamed_run(one: trainwell.Run, two: Path) -> None:
    def files(root: Path) -> list[str]:
        return sorted(
            str(p.relative_to(root)) for p in root.rglob("*") if "tensorboard" not in p.parts
        )

    assert files(two) == files(one.path)
    events = list((two / "tensorboard").rglob("events.out.tfevents.*"))
    assert len({e.name.split(".")[-2] for e in events}) == 1  # written by one process
