"""The doctor's running state survives a checkpoint: a doctor restored half way raises the
findings of one that watched the whole run (TW-T11)."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from trainwell.doctor.doctor import Doctor
from trainwell.findings import Finding
from trainwell.train.checkpoint import load_state, save_state

STEPS_PER_EPOCH = 20
EPOCHS = 8


def loss_at(step: int) -> float:
    """Falls for two epochs, then swings up and down with a growing amplitude."""
    if step < 2 * STEPS_PER_EPOCH:
        return 2.0 * math.exp(-step / 15) + 0.3
    return 0.35 + 0.25 * (1 + step / 100) * (1 if step % 2 else -1) * 0.5


def watch(dr: Doctor, epochs: range) -> None:
    for epoch in epochs:
        dr.epoch = epoch
        for i in range(STEPS_PER_EPOCH):
            dr.step = epoch * STEPS_PER_EPOCH + i
            dr.log_loss(loss_at(dr.step))
            dr.on_step_end()
        val = 0.4 + 0.05 * max(0, epoch - 2)  # validation worsens: overfitting
        dr.log_validation(val, epoch=epoch, train_loss=None)


def ids(findings: list[Finding]) -> list[tuple[str, int | None]]:
    return [(f.id, f.step) for f in findings]


def new_doctor() -> Doctor:
    return Doctor(roots=[torch.nn.Linear(2, 1)], infer_validation=False)


def test_a_restored_doctor_raises_the_findings_of_the_uninterrupted_one(tmp_path: Path) -> None:
    whole = new_doctor()
    watch(whole, range(EPOCHS))
    whole.finish(max_epochs=EPOCHS, stopped=False)

    first = new_doctor()
    watch(first, range(5))
    save_state(tmp_path / "c.safetensors", {"doctor": first.state_dict()})  # a real file
    resumed = new_doctor()
    resumed.load_state_dict(load_state(tmp_path / "c.safetensors")["doctor"])
    watch(resumed, range(5, EPOCHS))
    resumed.finish(max_epochs=EPOCHS, stopped=False)

    assert ids(whole.findings)  # the planted curve raises findings at all
    assert ids(resumed.findings) == ids(whole.findings)


def test_without_its_state_a_resumed_doctor_judges_differently(tmp_path: Path) -> None:
    # The control: what resuming did before the state was saved (only findings kept).
    whole = new_doctor()
    watch(whole, range(EPOCHS))
    whole.finish(max_epochs=EPOCHS, stopped=False)
    first = new_doctor()
    watch(first, range(5))
    fresh = new_doctor()
    watch(fresh, range(5, EPOCHS))
    fresh.finish(max_epochs=EPOCHS, stopped=False)
    assert ids([*first.findings, *fresh.findings]) != ids(whole.findings)
