"""Parquet input with a group split, TensorBoard contents, and the mixed-precision path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import mixed_frame
from helpers import FAST, run_cli
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from trainwell.cli import main
from trainwell.train.loop import InMemoryData, train
from trainwell.train.precision import Precision, resolve_precision


@pytest.fixture(scope="module")
def parquet_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("parquet")
    frame = mixed_frame(500).assign(customer_id=np.repeat([f"c{i:03d}" for i in range(100)], 5))
    frame.to_parquet(folder / "data.parquet", index=False)
    with pytest.raises(SystemExit) as done:
        main(
            [
                "fit",
                str(folder / "data.parquet"),
                "--target",
                "label",
                "--group",
                "customer_id",
                "--out",
                str(folder / "run"),
                "-q",
                *FAST,
            ]
        )
    assert done.value.code == 0
    return folder


def test_parquet_with_group_split_keeps_customers_apart(parquet_run: Path) -> None:
    import pandas as pd

    frame = pd.read_parquet(parquet_run / "data.parquet")
    splits = json.loads((parquet_run / "run" / "splits.json").read_text())
    customers = [set(frame["customer_id"].iloc[splits[n]]) for n in ("train", "validation", "test")]
    assert not customers[0] & customers[1]
    assert not customers[0] & customers[2]
    assert not customers[1] & customers[2]
    assert splits["method"] == "grouped by 'customer_id'"
    manifest = json.loads((parquet_run / "run" / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert "customer_id" not in {f["name"] for f in manifest["data"]["features"]}


def test_tensorboard_holds_losses_metrics_lr_and_grad_norm(parquet_run: Path) -> None:
    folder = parquet_run / "run" / "tensorboard"
    train_run, validation_run = (
        EventAccumulator(str(folder / "train")),
        EventAccumulator(str(folder / "validation")),
    )
    train_run.Reload()
    validation_run.Reload()
    assert {"epoch/loss", "step/loss", "step/lr", "step/grad_norm"} <= set(
        train_run.Tags()["scalars"]
    )
    assert {"epoch/loss", "epoch/accuracy"} <= set(validation_run.Tags()["scalars"])
    history = json.loads((parquet_run / "run" / "history.json").read_text())
    logged = [e.value for e in validation_run.Scalars("epoch/loss")]
    np.testing.assert_allclose(logged, [h["val_loss"] for h in history], rtol=1e-6)
    lrs = [e.value for e in train_run.Scalars("step/lr")]
    assert lrs[0] < max(lrs)  # warmup: the learning rate rises first ...
    assert lrs[-1] < max(lrs)  # ... then decays
    # The report adds the LR range test and the findings (TW-T02, TW-M02).
    summary = EventAccumulator(str(folder / "run_summary"))
    summary.Reload()
    assert "lr_find/smoothed_loss" in summary.Tags()["scalars"]
    assert "findings/text_summary" in summary.Tags()["tensors"]


def test_precision_is_fp32_on_cpu_and_mixed_on_cuda_by_default() -> None:
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"


def test_the_autocast_path_trains(capsys: pytest.CaptureFixture[str]) -> None:
    """bf16 autocast runs on CPU too, so the mixed-precision branch of the loop is exercised
    here even though CI has no GPU."""
    x = torch.randn(64, 4)
    y = (x[:, 0] > 0).long()
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    state = train(
        model,
        opt,
        nn.functional.cross_entropy,
        InMemoryData((x,), y, 16),
        max_epochs=20,
        precision=Precision("bf16", "cpu"),
    )
    assert state.history[-1]["train_loss"] < state.history[0]["train_loss"]
    assert all(p.dtype == torch.float32 for p in model.parameters())  # weights stay fp32


def test_fp16_uses_a_grad_scaler_and_saves_its_state() -> None:
    precision = Precision("fp16", "cpu")
    assert precision.scaler is not None
    assert "scale" in precision.state_dict()


def test_fit_rejects_an_unknown_precision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mixed_frame(100).to_csv(tmp_path / "d.csv", index=False)
    code, _, err = run_cli(
        ["fit", str(tmp_path / "d.csv"), "--target", "label", "train.precision=fp8"], capsys
    )
    assert code == 2
    assert "train.precision" in err
