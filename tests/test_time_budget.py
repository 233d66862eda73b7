"""train.time_budget: plans the epochs that fit, stops cleanly with the best weights, and the
run says so. The budget's clock is replaced by a fake one that advances per call: no test
sleeps or reads the real time."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch
from helpers import FAST
from torch import nn

import trainwell
from trainwell.config import build_config
from trainwell.errors import ConfigError
from trainwell.train.callbacks import EarlyStopping
from trainwell.train.callbacks import time_budget as budget_module
from trainwell.train.callbacks.time_budget import TimeBudget, format_seconds
from trainwell.train.loop import InMemoryData, train


def fake_clock(monkeypatch: pytest.MonkeyPatch, seconds_per_call: float) -> None:
    ticks = itertools.count()
    monkeypatch.setattr(budget_module, "now", lambda: next(ticks) * seconds_per_call)


def train_scripted(budget: TimeBudget, losses: list[float]) -> tuple[nn.Module, list, object]:
    """Four steps per epoch; each validation shifts the weights so epochs are told apart."""
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    scripted, weights = iter(losses), []

    def validate(m: nn.Module) -> dict[str, float]:
        with torch.no_grad():
            m.weight.add_(1.0)
        weights.append(m.weight.detach().clone())
        return {"val_loss": next(scripted)}

    state = train(
        model, opt, nn.functional.mse_loss,
        InMemoryData((torch.zeros(16, 2),), torch.zeros(16, 1), 4),
        max_epochs=len(losses), validate=validate, callbacks=[EarlyStopping(patience=5), budget],
    )  # fmt: skip
    return model, weights, state


def test_the_budget_stops_when_another_epoch_would_not_fit_keeping_the_best_weights(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One tick per clock read: the start, 4 steps and the epoch's end -> 5 s per epoch.
    fake_clock(monkeypatch, 1.0)
    budget = TimeBudget(12.0)
    model, weights, state = train_scripted(budget, [1.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99])
    assert len(state.history) == 2  # after 10 s a third epoch of 5 s would end at 15 > 12
    assert state.stop
    assert "time budget 12s (train.time_budget) reached after epoch 2" in state.stop_reason
    assert torch.equal(model.weight, weights[1])  # epoch 2, the best, restored
    (finding,) = budget.findings(best_epoch=2)
    assert finding.id == "time-budget-reached"
    assert finding.practice == "TW-T04"
    assert finding.severity == "info"
    assert "the weights of epoch 2, the best on validation loss, were kept" in finding.message


def test_a_budget_shorter_than_an_epoch_stops_at_a_step_and_warns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_clock(monkeypatch, 1.0)
    budget = TimeBudget(2.0)
    _, weights, state = train_scripted(budget, [1.0, 0.5])
    assert state.step == 2  # stopped at the step that reached the budget
    assert weights == []  # the cut epoch is not validated
    assert "during epoch 1" in state.stop_reason
    (finding,) = budget.findings(best_epoch=0)
    assert finding.severity == "warning"
    assert "no epoch was validated" in finding.message


def test_a_generous_budget_plans_epochs_and_stays_silent(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_clock(monkeypatch, 1.0)
    budget = TimeBudget(1000.0)
    _, _, state = train_scripted(budget, [1.0, 0.9, 0.8])
    assert len(state.history) == 3  # max_epochs, not the budget, ended it
    assert state.extras["planned_epochs"] == 3
    assert state.extras["eta_s"] == 0.0
    assert budget.findings(best_epoch=3) == []


@pytest.mark.parametrize(
    ("text", "seconds"), [("10m", 600.0), ("600", 600.0), ("90s", 90.0), ("1.5h", 5400.0)]
)
def test_time_budget_accepts_seconds_minutes_and_hours(text: str, seconds: float) -> None:
    assert build_config(overrides=[f"train.time_budget={text}"]).train.time_budget == seconds


def test_a_malformed_budget_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not a duration"):
        build_config(overrides=["train.time_budget=ten"])


def test_durations_read_back_as_written() -> None:
    assert [format_seconds(s) for s in (600, 95, 5400, 12, 0.18, 0)] == [
        "10m", "1m35s", "1h30m", "12s", "0.2s", "0.0s",
    ]  # fmt: skip


def test_fit_with_a_tiny_budget_stops_early_and_the_run_says_so(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_clock(monkeypatch, 1.0)  # ~30 fake seconds per epoch of 29 steps
    run = trainwell.fit(
        data_dir / "breast_cancer.csv", "target", out=tmp_path / "run", quiet=True,
        overrides=[*FAST, "train.time_budget=100s", "report.bootstrap=0", "report.energy=false"],
    )  # fmt: skip
    network = run.manifest["network"]
    assert network["epochs_run"] < 25
    assert "time budget 1m40s (train.time_budget) reached" in network["stop_reason"]
    found = json.loads((run.path / "findings.json").read_text())
    (note,) = [f for f in found if f["id"] == "time-budget-reached"]
    assert note["evidence"]["best_epoch"] == network["best_epoch"]
    assert note["evidence"]["epoch"] == network["epochs_run"]


def test_tune_trials_each_train_within_the_budget_and_say_so(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``trainwell tune ... train.time_budget=12s``: every trial stops at the budget (a fake
    5 s per epoch of 4 steps: two epochs fit in 12 s), not at its 20 epochs."""
    import optuna

    from trainwell.tune import tune
    from trainwell.tune.tuner import STUDY_DB

    fake_clock(monkeypatch, 1.0)
    tune(
        str(data_dir / "wine.csv"), "target", trials=2, out=tmp_path / "run", quiet=True,
        fit_best=False, sampler="random",
        overrides=[
            "train.max_epochs=20", "train.patience=20", "model.width=16", "model.depth=1",
            "train.batch_size=32", "train.time_budget=12s", "logging.progress=false",
            "logging.tensorboard=false", "baselines.lightgbm_rounds=20",
        ],
    )  # fmt: skip
    study = optuna.load_study(
        study_name="trainwell", storage=f"sqlite:///{tmp_path / 'run' / STUDY_DB}"
    )
    assert len(study.trials) == 2
    for trial in study.trials:
        assert trial.user_attrs["epochs"] == 2
        assert (
            "time budget 12s (train.time_budget) reached after epoch 2"
            in (trial.user_attrs["stop_reason"])
        )
