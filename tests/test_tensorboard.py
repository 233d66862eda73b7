"""TensorBoard as its users expect it (TW-M02-M04), read back with its EventAccumulator."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2
from torch import nn

from trainwell.findings import Finding
from trainwell.report.load import RunFiles
from trainwell.report.tensorboard import write_summary
from trainwell.train.callback import Callback
from trainwell.train.callbacks import TensorBoardLogger
from trainwell.train.loop import InMemoryData, train
from trainwell.train.state import TrainState


class UsedLR(Callback):
    """The learning rate each optimizer step uses, read right before the step."""

    def __init__(self) -> None:
        self.used: dict[int, float] = {}

    def on_before_optimizer_step(self, state: TrainState) -> None:
        self.used[state.step + 1] = state.lr


def events(folder: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0})
    accumulator.Reload()
    return accumulator


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainState, UsedLR]:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tb")
    x = torch.randn(64, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05)
    # A rate that changes every step, so reading it after the scheduler would be off by one.
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (step + 1))
    spy = UsedLR()

    def validate(net: nn.Module) -> dict[str, float]:
        with torch.no_grad():
            return {"val_loss": float(nn.functional.mse_loss(net(x), y)), "val_rmse": 1.0}

    state = train(
        model,
        optimizer,
        nn.functional.mse_loss,
        InMemoryData((x,), y, 16),
        max_epochs=3,
        scheduler=scheduler,
        validate=validate,
        callbacks=[spy, TensorBoardLogger(folder, every=1, histogram_every=4)],
    )
    return folder, state, spy


def test_step_lr_is_the_rate_used_for_that_step(logged: tuple[Path, TrainState, UsedLR]) -> None:
    folder, state, spy = logged
    points = {e.step: e.value for e in events(folder / "train").Scalars("step/lr")}
    assert sorted(points) == list(range(1, state.step + 1))
    for step, value in points.items():
        assert value == pytest.approx(spy.used[step], rel=1e-6), step
    assert points[1] == pytest.approx(0.05)  # the first step uses the initial rate
    assert points[2] == pytest.approx(0.025)


def test_train_and_validation_share_tags_in_two_runs(
    logged: tuple[Path, TrainState, UsedLR],
) -> None:
    folder, state, _ = logged
    train_run, validation_run = events(folder / "train"), events(folder / "validation")
    assert "epoch/loss" in train_run.Tags()["scalars"]
    assert "epoch/loss" in validation_run.Tags()["scalars"]
    assert [e.value for e in validation_run.Scalars("epoch/loss")] == pytest.approx(
        [h["val_loss"] for h in state.history]
    )
    assert [e.value for e in train_run.Scalars("epoch/loss")] == pytest.approx(
        [h["train_loss"] for h in state.history]
    )
    assert [e.step for e in validation_run.Scalars("epoch/loss")] == [1, 2, 3]


def test_hparams_with_the_final_metrics(logged: tuple[Path, TrainState, UsedLR]) -> None:
    folder, state, _ = logged
    root = events(folder)
    content = root.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hparams = start.session_start_info.hparams
    assert hparams["used.lr"].number_value == pytest.approx(0.05)
    assert hparams["used.optimizer"].string_value == "AdamW"
    best = min(h["val_loss"] for h in state.history)
    (point,) = root.Scalars("hparam/val_loss")
    assert point.value == pytest.approx(best)
    # One events file at the root, none empty (SummaryWriter.add_hparams leaves an empty one).
    (written,) = folder.glob("events.out.tfevents.*")
    assert events(written).PluginTagToContent("hparams") == content


def test_layer_statistics_and_histograms_on_their_cadence(
    logged: tuple[Path, TrainState, UsedLR],
) -> None:
    folder, state, _ = logged
    run = events(folder / "train")
    assert {"weights/0.weight", "gradients/0.weight", "gradients/2.bias"} <= set(
        run.Tags()["histograms"]
    )
    steps = [e.step for e in run.Histograms("gradients/0.weight")]
    assert steps == list(range(4, state.step + 1, 4))
    norms = [e.value for e in run.Scalars("weights/0.weight")]
    assert all(v > 0 for v in norms)


def test_activation_statistics_on_the_same_cadence(
    logged: tuple[Path, TrainState, UsedLR],
) -> None:
    folder, state, _ = logged
    run = events(folder / "train")
    assert {"activations/0", "activations/1", "activations/2"} <= set(run.Tags()["histograms"])
    assert [e.step for e in run.Histograms("activations/1")] == list(range(4, state.step + 1, 4))
    sparsity = [e.value for e in run.Scalars("activations/1/zero_fraction")]
    assert all(0.0 <= v < 1.0 for v in sparsity)  # a healthy ReLU layer is not all zeros


def test_dead_relu_shows_as_zero_fraction_one(
    tmp_path: Path,
) -> None:
    torch.manual_seed(0)
    x = torch.randn(64, 3)
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
    with torch.no_grad():
        model[0].bias.fill_(-100.0)  # every unit dead
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

    def validate(net: nn.Module) -> dict[str, float]:
        with torch.no_grad():  # 64 rows in eval mode, between the hooks and step 5
            return {"val_loss": float(net(x).pow(2).mean())}

    # 4 steps per epoch: the hooks for step 5 are attached before epoch 1's validation.
    train(
        model, optimizer, nn.functional.mse_loss, InMemoryData((x,), torch.zeros(64, 1), 16),
        max_epochs=2, validate=validate,
        callbacks=[TensorBoardLogger(tmp_path, every=1, histogram_every=5)],
    )  # fmt: skip
    run = events(tmp_path / "train")
    (zeros,) = run.Scalars("activations/1/zero_fraction")
    assert (zeros.step, zeros.value) == (5, 1.0)
    (histogram,) = run.Histograms("activations/0")
    assert histogram.histogram_value.num == 16 * 8  # step 5's training batch of 16 rows


def test_no_histograms_when_turned_off(tmp_path: Path) -> None:
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    data = InMemoryData((torch.randn(8, 2),), torch.randn(8, 1), 4)
    callbacks = [TensorBoardLogger(tmp_path, every=1, histogram_every=0)]
    train(model, optimizer, nn.functional.mse_loss, data, max_epochs=2, callbacks=callbacks)
    assert events(tmp_path / "train").Tags()["histograms"] == []


def test_range_test_and_findings_are_written_for_tensorboard(tmp_path: Path) -> None:
    (tmp_path / "tensorboard").mkdir()
    finding = Finding(
        id="class-imbalance",
        practice="TW-D11",
        severity="warning",
        stage="audit",
        message="Class '<b>x</b>' is 5% of rows.",
        fix="Class weights are applied.",
    )
    sweep = {
        "lrs": [1e-4, 1e-3, 1e-2],
        "losses": [0.7, 0.5, float("nan")],
        "smoothed": [0.7, 0.6, 0.9],
        "suggestion": 1e-3,
        "method": "valley",
        "reason": "half way along the longest fall",
        "stopped": "completed the sweep (3 steps)",
    }
    empty = dict.fromkeys(
        [
            "metrics",
            "training",
            "history",
            "data",
            "predictions",
            "test_inputs",
            "groups",
            "explanations",
            "energy",
        ]
    )
    run = RunFiles(path=tmp_path, manifest={}, findings=[finding], lr_find=sweep, **empty)
    target = write_summary(run, tmp_path / "tensorboard")
    assert target is not None
    summary = events(target)
    assert [e.value for e in summary.Scalars("lr_find/lr")] == pytest.approx(sweep["lrs"])
    assert [e.step for e in summary.Scalars("lr_find/loss")] == [0, 1]  # the NaN is left out
    text = summary.Tensors("lr_find/suggestion/text_summary")[0].tensor_proto.string_val[0]
    assert "0.001" in text.decode()
    table = summary.Tensors("findings/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "`class-imbalance`" in table
    assert "&lt;b&gt;x&lt;/b&gt;" in table
    # Rebuilding the report rewrites the summary rather than adding a second copy.
    write_summary(run, tmp_path / "tensorboard")
    assert len(list(target.iterdir())) == 1
