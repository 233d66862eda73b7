"""Learning-rate schedules (TW-T03): each curve's shape, exact resume, and the remedy's scaling."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from trainwell.config import TrainConfig, build_config
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
    lrs = curve(TrainConfig(schedule="warmup_cosine", max_epochs=10, warmup_epochs=1))
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

    cfg = TrainConfig(schedule="warmup_cosine", max_epochs=100, warmup_epochs=1, patience=6)
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
    cfg = TrainConfig(schedule="warmup_cosine", max_epochs=10, warmup_epochs=1, patience=4)
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
    lrs = curve(TrainConfig(schedule="one_cycle", max_epochs=10, one_cycle_peak=0.25))
    peak = max(range(len(lrs)), key=lrs.__getitem__)
    assert abs(peak - 0.25 * len(lrs)) <= 1
    assert lrs[peak] == pytest.approx(LR)
    assert lrs[0] == pytest.approx(LR / 25)  # torch's div_factor
    assert lrs[-1] < LR / 25 / 1000  # final_div_factor 1e4


def test_step_decay_multiplies_by_gamma_at_the_milestones() -> None:
    cfg = TrainConfig(schedule="step", max_epochs=8, step_milestones=[0.25, 0.75], step_gamma=0.5)
    lrs = curve(cfg)
    assert lrs[: 2 * STEPS] == pytest.approx([LR] * 2 * STEPS)  # until epoch 2
    assert lrs[2 * STEPS : 6 * STEPS] == pytest.approx([LR / 2] * 4 * STEPS)
    assert lrs[6 * STEPS :] == pytest.approx([LR / 4] * 2 * STEPS)


def test_cosine_restarts_go_back_up_at_each_cycle_boundary() -> None:
    cfg = TrainConfig(schedule="cosine_restarts", max_epochs=7, restart_epochs=1, restart_mult=2)
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
        opt, TrainConfig(schedule="plateau", plateau_patience=2, plateau_factor=0.5), STEPS
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
    assert build_config(overrides=["train.step_milestones=0.3,0.6"]).train.step_milestones == [
        0.3,
        0.6,
    ]
    for bad in ("train.step_milestones=2", "train.schedule=linear", "train.restart_mult=0"):
        with pytest.raises(Exception, match="invalid config value"):
            build_config(overrides=[bad])


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
    "step": {"step_milestones": [0.4, 0.7]},
    "plateau": {"plateau_patience": 0},
    "cosine_restarts": {"restart_epochs": 1.5},
    "constant": {},
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_each_schedule_resumes_exactly(name: str, tmp_path: Path) -> None:
    cfg = TrainConfig(schedule=name, max_epochs=8, **SCHEDULE_CONFIGS[name])  # type: ignore[arg-type]
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
    cfg = TrainConfig(schedule=name, max_epochs=6, **SCHEDULE_CONFIGS[name])  # type: ignore[arg-type]
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
