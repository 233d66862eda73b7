"""Learning-rate schedules (TW-T03): each curve's shape, exact resume, and the remedy's scaling."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from trainwell.config import (
    CosineRestartsOptions,
    OneCycleOptions,
    PlateauOptions,
    SGDOptions,
    StepOptions,
    TrainConfig,
    WarmupCosineOptions,
    build_config,
)
from trainwell.errors import ConfigError
from trainwell.train.callback import Callback
from trainwell.train.callbacks import Checkpointing
from trainwell.train.callbacks.checkpointing import restore
from trainwell.train.callbacks.remedy import scale_lr
from trainwell.train.checkpoint import latest_checkpoint
from trainwell.train.loop import InMemoryData, train
from trainwell.train.precision import Precision
from trainwell.train.schedule import SCHEDULES, Schedule, build_schedule
from trainwell.train.state import TrainState

LR = 0.1
STEPS = 10  # optimizer steps per epoch in the shape tests


def optimizer() -> torch.optim.Optimizer:
    return torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=LR)


def curve(cfg: TrainConfig, epochs: int | None = None) -> list[float]:
    """The LR of every optimizer step of a per-step schedule."""
    opt = optimizer()
    schedule = build_schedule(opt, cfg, STEPS)
    assert schedule.per_step
    assert schedule.scheduler is not None
    lrs = []
    for _ in range(STEPS * (epochs or cfg.max_epochs)):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.scheduler.step()
    return lrs


def test_warmup_cosine_rises_linearly_then_decays_to_zero() -> None:
    lrs = curve(TrainConfig(schedule=WarmupCosineOptions(warmup_epochs=1), max_epochs=10))
    assert lrs[:STEPS] == pytest.approx([LR * (i + 1) / STEPS for i in range(STEPS)])
    assert max(lrs) == pytest.approx(LR)
    assert all(a >= b for a, b in zip(lrs[STEPS:], lrs[STEPS + 1 :], strict=False))
    assert lrs[-1] < 1e-3 * LR


class LrLog(Callback):
    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_step_end(self, state: TrainState) -> None:
        self.lrs.append(state.lr)


def test_warmup_cosine_reaches_its_end_when_early_stopping_ends_the_run() -> None:
    """A plateau after epoch 3: early stopping (patience 6) would stop at epoch 10 of 100, with
    the cosine laid over 100 epochs still at ~97% of its peak; the decay is compressed to end
    there instead (TW-T03, T04)."""
    from trainwell.train.callbacks import EarlyStopping

    cfg = TrainConfig(schedule=WarmupCosineOptions(warmup_epochs=1), max_epochs=100, patience=6)
    data, _ = make_data()
    model = nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    schedule = build_schedule(opt, cfg, len(data))
    log = LrLog()
    losses = [1.0, 0.9, 0.8] + [0.85] * 200  # no improvement after epoch 3
    state = train(
        model,
        opt,
        nn.functional.mse_loss,
        data,
        max_epochs=cfg.max_epochs,
        scheduler=schedule.loop_scheduler,
        callbacks=[EarlyStopping(patience=cfg.patience), *schedule.callbacks, log],
        validate=lambda m: {"val_loss": losses[len(log.lrs) // len(data) - 1]},
    )
    assert state.epoch == 9  # epochs 1-3 improve, then 6 without: stopped as before
    assert log.lrs[-1] < 0.1 * max(log.lrs)
    assert state.extras["anneal"]["start_step"] == 6 * len(data)  # after 3 epochs of 6
    assert "compressed to end where early stopping would stop" in schedule.description
    # Before the stop, the curve never jumps: each step lowers the LR a little.
    drops = [a - b for a, b in zip(log.lrs[len(data) :], log.lrs[len(data) + 1 :], strict=False)]
    assert min(drops) >= 0
    assert max(drops) < 0.3 * LR


def test_an_improving_run_keeps_its_planned_decay() -> None:
    cfg = TrainConfig(schedule=WarmupCosineOptions(warmup_epochs=1), max_epochs=10, patience=4)
    data, _ = make_data()
    opt = optimizer()
    schedule = build_schedule(opt, cfg, len(data))
    log = LrLog()
    state = train(
        nn.Linear(4, 1),
        opt,
        nn.functional.mse_loss,
        data,
        max_epochs=cfg.max_epochs,
        scheduler=schedule.loop_scheduler,
        callbacks=[*schedule.callbacks, log],
        validate=lambda m: {"val_loss": 1.0 / (1 + len(log.lrs))},  # always improving
    )
    assert state.epoch == 10
    assert "anneal" not in state.extras
    reference_opt = optimizer()
    reference = build_schedule(reference_opt, cfg, len(data)).scheduler
    assert reference is not None
    planned = []
    for _ in range(len(log.lrs)):
        reference_opt.step()
        reference.step()
        planned.append(reference_opt.param_groups[0]["lr"])
    assert log.lrs == pytest.approx(planned, abs=1e-12)
    assert log.lrs[-1] < 1e-3 * LR


def test_one_cycle_peaks_at_the_configured_fraction() -> None:
    lrs = curve(TrainConfig(schedule=OneCycleOptions(peak=0.25), max_epochs=10))
    peak = max(range(len(lrs)), key=lrs.__getitem__)
    assert abs(peak - 0.25 * len(lrs)) <= 1
    assert lrs[peak] == pytest.approx(LR)
    assert lrs[0] == pytest.approx(LR / 25)  # torch's div_factor
    assert lrs[-1] < LR / 25 / 1000  # final_div_factor 1e4


def test_step_decay_multiplies_by_gamma_at_the_milestones() -> None:
    cfg = TrainConfig(schedule=StepOptions(milestones=[0.25, 0.75], gamma=0.5), max_epochs=8)
    lrs = curve(cfg)
    assert lrs[: 2 * STEPS] == pytest.approx([LR] * 2 * STEPS)  # until epoch 2
    assert lrs[2 * STEPS : 6 * STEPS] == pytest.approx([LR / 2] * 4 * STEPS)
    assert lrs[6 * STEPS :] == pytest.approx([LR / 4] * 2 * STEPS)


def test_cosine_restarts_go_back_up_at_each_cycle_boundary() -> None:
    cfg = TrainConfig(schedule=CosineRestartsOptions(cycle_epochs=1, cycle_mult=2), max_epochs=7)
    lrs = curve(cfg)
    starts = [0, STEPS, 3 * STEPS]  # cycles of 1, 2 and 4 epochs
    for start in starts:
        assert lrs[start] == pytest.approx(LR)
    for end in (STEPS - 1, 3 * STEPS - 1):
        assert lrs[end] < 0.05 * LR
        assert lrs[end + 1] == pytest.approx(LR)


def test_plateau_reduces_after_patience_epochs_without_improvement() -> None:
    opt = optimizer()
    schedule = build_schedule(
        opt, TrainConfig(schedule=PlateauOptions(patience=2, factor=0.5)), STEPS
    )
    assert not schedule.per_step
    assert schedule.loop_scheduler is None
    state = TrainState(nn.Linear(2, 1), opt, schedule.scheduler)
    lrs = []
    for val_loss in [1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8]:
        state.history.append({"val_loss": val_loss})
        for cb in schedule.callbacks:
            cb.on_epoch_end(state)
        lrs.append(opt.param_groups[0]["lr"])
    # Improvements at epochs 0, 1 and 5; the third epoch in a row without one cuts the LR.
    assert lrs == pytest.approx([LR, LR, LR, LR, LR / 2, LR / 2, LR / 2, LR / 2, LR / 4])


def test_constant_has_no_scheduler() -> None:
    assert build_schedule(optimizer(), TrainConfig(schedule="constant"), STEPS) == Schedule(
        None, description="constant learning rate"
    )


def test_schedule_keys_are_validated() -> None:
    chosen = build_config(overrides=["train.schedule=step", "train.schedule.milestones=0.3,0.6"])
    assert chosen.train.schedule == StepOptions(milestones=[0.3, 0.6])
    for bad in (
        ["train.schedule=step", "train.schedule.milestones=2"],
        ["train.schedule=cosine_restarts", "train.schedule.cycle_mult=0"],
    ):
        with pytest.raises(ConfigError, match="invalid config value"):
            build_config(overrides=bad)
    with pytest.raises(ConfigError, match=r"train\.schedule=linear is not one of warmup_cosine"):
        build_config(overrides=["train.schedule=linear"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        # Issue 11: a schedule's key exists only under its schedule, an optimizer's only
        # under its optimizer; before, they were flat keys every schedule carried.
        (
            ["train.schedule=one_cycle", "train.schedule.warmup_epochs=2"],
            "train.schedule.warmup_epochs has no effect with train.schedule=one_cycle; it "
            "applies with train.schedule=warmup_cosine",
        ),
        (
            ["train.schedule.milestones=0.5"],
            "train.schedule.milestones has no effect with train.schedule=warmup_cosine; it "
            "applies with train.schedule=step",
        ),
        (
            ["train.optimizer.momentum=0.5"],
            "train.optimizer.momentum has no effect with train.optimizer=adamw; it applies "
            "with train.optimizer=sgd",
        ),
        (["train.schedule.peek=0.2"], "no 'peek' in train.schedule (did you mean 'peak'?)"),
    ],
)
def test_a_choice_refuses_another_choices_keys(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        build_config(overrides=overrides)


def test_a_choice_and_its_keys_in_any_order_and_over_a_saved_config() -> None:
    for overrides in (
        ["train.optimizer=sgd", "train.optimizer.momentum=0.5"],
        ["train.optimizer.momentum=0.5", "train.optimizer=sgd"],
        ["train.optimizer.name=sgd", "train.optimizer.momentum=0.5"],
    ):
        assert build_config(overrides=overrides).train.optimizer == SGDOptions(momentum=0.5)
    # A resumed or tuned run starts from a full saved config: switching the schedule there
    # drops the old schedule's keys instead of refusing them.
    saved = build_config(overrides=["train.schedule=plateau"]).model_dump(mode="json")
    assert saved["train"]["schedule"] == {"name": "plateau", "factor": 0.1, "patience": 3}
    assert build_config(base=saved).train.schedule == PlateauOptions()
    switched = build_config(base=saved, overrides=["train.schedule=step"])
    assert switched.train.schedule == StepOptions()


# --- exact resume: interrupted + resumed ends with the LR and weights of an uninterrupted run


def make_data() -> tuple[InMemoryData, tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 4, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 0.0]) + 0.3 * torch.randn(96, generator=g)
    return InMemoryData((x[:64],), y[:64, None], 16, seed=1), (x[64:], y[64:, None])


class StopAfter(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, state: TrainState) -> None:
        if state.epoch + 1 == self.epoch:
            state.stop = True


def run(cfg: TrainConfig, folder: Path | None, stop_after: int | None, resume: bool) -> TrainState:
    data, (xv, yv) = make_data()
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 1))
    opt = torch.optim.AdamW(model.parameters(), lr=0.05)
    schedule = build_schedule(opt, cfg, len(data))
    precision = Precision("fp32")
    callbacks: list[Callback] = [*schedule.callbacks]
    if folder is not None:
        callbacks.append(Checkpointing(folder, [], precision))
    if stop_after is not None:
        callbacks.append(StopAfter(stop_after))  # after Checkpointing: saved as not stopped
    state = TrainState(model, opt, schedule.scheduler, max_epochs=cfg.max_epochs)
    if resume:
        assert folder is not None
        checkpoint = latest_checkpoint(folder)
        assert checkpoint is not None
        restore(checkpoint, state, [], precision)

    def validate(m: nn.Module) -> dict[str, float]:
        with torch.no_grad():
            return {"val_loss": float(nn.functional.mse_loss(m(xv), yv))}

    return train(
        model,
        opt,
        nn.functional.mse_loss,
        data,
        max_epochs=cfg.max_epochs,
        scheduler=schedule.loop_scheduler,
        callbacks=callbacks,
        validate=validate,
        state=state,
    )


SCHEDULE_CONFIGS = {
    "warmup_cosine": {},
    "one_cycle": {},
    "step": {"milestones": [0.4, 0.7]},
    "plateau": {"patience": 0},
    "cosine_restarts": {"cycle_epochs": 1.5},
    "constant": {},
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_each_schedule_resumes_exactly(name: str, tmp_path: Path) -> None:
    cfg = TrainConfig(schedule={"name": name, **SCHEDULE_CONFIGS[name]}, max_epochs=8)  # type: ignore[arg-type]
    full = run(cfg, None, None, resume=False)
    run(cfg, tmp_path, stop_after=3, resume=False)
    resumed = run(cfg, tmp_path, None, resume=True)
    assert resumed.step == full.step
    assert resumed.lr == full.lr
    for (key, a), b in zip(
        resumed.model.state_dict().items(), full.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), key
    if name == "plateau":
        assert full.lr < 0.05  # it did reduce, so its state mattered


@pytest.mark.parametrize("name", [s for s in SCHEDULES if s not in ("constant", "plateau")])
def test_remedy_scale_lr_lowers_every_later_lr_by_the_factor(name: str) -> None:
    cfg = TrainConfig(schedule={"name": name, **SCHEDULE_CONFIGS[name]}, max_epochs=6)  # type: ignore[arg-type]
    plain = curve(cfg)
    opt = optimizer()
    schedule = build_schedule(opt, cfg, STEPS)
    assert schedule.scheduler is not None
    scaled = []
    for step in range(len(plain)):
        if step == 17:
            scale_lr(opt, schedule.scheduler, 0.1)
        scaled.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.scheduler.step()
    assert scaled[:17] == pytest.approx(plain[:17])
    assert scaled[17:] == pytest.approx([0.1 * v for v in plain[17:]], rel=1e-9)
    assert all(math.isfinite(v) for v in scaled)
