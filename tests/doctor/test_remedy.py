"""The remedy inside trainwell's loop: restore, lower the LR, clip, continue (or stop)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from tests.doctor.conftest import blobs, mlp
from trainwell.doctor import DoctorCallback
from trainwell.train.callbacks import GradientNorm
from trainwell.train.callbacks.remedy import Remedy, scale_lr
from trainwell.train.loop import InMemoryData, train
from trainwell.train.schedule import warmup_cosine
from trainwell.train.state import TrainState


def diverging_fit(
    lr: float, *, lr_factor: float = 0.1, max_remedies: int = 3, epochs: int = 4
) -> tuple[TrainState, DoctorCallback, Remedy, GradientNorm]:
    x, y = blobs()
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    doctor = DoctorCallback()
    clip = GradientNorm(None)
    remedy = Remedy(doctor, clip, lr_factor=lr_factor, max_remedies=max_remedies)

    def validate(m: nn.Module) -> dict[str, float]:
        with torch.no_grad():
            return {"val_loss": float(loss_fn(m(x[:64]), y[:64]))}

    state = train(
        model,
        opt,
        loss_fn,
        InMemoryData((x,), y, batch_size=32),
        max_epochs=epochs,
        callbacks=[clip, doctor, remedy],
        validate=validate,
    )
    return state, doctor, remedy, clip


def test_a_diverging_run_is_rescued_and_finishes_healthy() -> None:
    state, doctor, remedy, clip = diverging_fit(lr=20.0)
    rescues = [f for f in doctor.findings if f.id == "remedy-applied"]
    assert rescues, [f.id for f in doctor.findings]
    first = rescues[0]
    assert first.evidence["cause"] in {"divergence", "nonfinite-loss", "nonfinite-gradients"}
    assert first.evidence["new_lr"] == pytest.approx(2.0)  # 20 x 0.1
    assert first.evidence["clip_grad_norm"] == 1.0  # clipping was off, the rescue turned it on
    assert clip.max_norm == 1.0
    assert remedy.applied == len(rescues)
    assert not state.stop
    assert all(torch.isfinite(p).all() for p in state.model.parameters())
    assert math.isfinite(state.history[-1]["val_loss"])
    assert state.history[-1]["val_loss"] < math.log(3)  # it learned after the rescue


def test_a_run_that_keeps_diverging_stops_after_max_remedies() -> None:
    # A factor of 0.99 leaves the LR far too high, so every rescue diverges again.
    state, doctor, remedy, _ = diverging_fit(lr=20.0, lr_factor=0.99, max_remedies=1)
    assert remedy.applied == 1
    assert state.stop
    assert "doctor.max_remedies=1" in state.stop_reason
    assert sum(f.id == "remedy-applied" for f in doctor.findings) == 1


def test_a_healthy_run_is_never_touched() -> None:
    _, doctor, remedy, clip = diverging_fit(lr=0.05)
    assert remedy.applied == 0
    assert clip.max_norm is None
    assert not [f for f in doctor.findings if f.id == "remedy-applied"]


def test_scale_lr_lowers_a_schedule_without_changing_its_shape() -> None:
    def lrs(factor: float | None) -> list[float]:
        opt = torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=0.5)
        sched = warmup_cosine(opt, total_steps=20, warmup_steps=5)
        seen = []
        for step in range(20):
            if factor is not None and step == 8:
                scale_lr(opt, sched, factor)
            seen.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return seen

    plain, scaled = lrs(None), lrs(0.1)
    assert scaled[:8] == plain[:8]
    assert scaled[9:] == pytest.approx([0.1 * v for v in plain[9:]])


def test_remedy_state_survives_a_checkpoint() -> None:
    _, _, remedy, _ = diverging_fit(lr=20.0)
    saved = remedy.state_dict()
    fresh_clip = GradientNorm(None)
    again = Remedy(DoctorCallback(), fresh_clip)
    again.load_state_dict(saved)
    assert again.applied == remedy.applied
    again.on_fit_start(TrainState(mlp(), torch.optim.SGD(mlp().parameters(), lr=0.1)))
    assert fresh_clip.max_norm == 1.0  # clipping a rescue turned on stays on after --resume
