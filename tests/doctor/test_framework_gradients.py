"""Inside Lightning and the Hugging Face Trainer the doctor reads each optimizer step's whole,
unclipped gradient: its norm equals the one a hand-written loop computes before clipping,
with gradient accumulation and clipping both on."""

from __future__ import annotations

import copy
import math
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from trainwell.doctor import Doctor, Thresholds

CLIP = 0.05  # far below the norms these tiny models have: every step is clipped
LR = 0.5


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Doctor, int, float | None]]:
    """Every total gradient norm the doctor is given, with the step it was given at."""
    seen: list[tuple[Doctor, int, float | None]] = []
    original = Doctor.on_gradients

    def spy(self: Doctor, params: list[torch.Tensor], total: float | None) -> None:
        seen.append((self, self.step, total))
        original(self, params, total)

    monkeypatch.setattr(Doctor, "on_gradients", spy)
    return seen


def data(n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 8, generator=g) * 3, torch.randint(0, 3, (n,), generator=g)


def net() -> nn.Sequential:
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))


def hand_norms(
    model: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]], accumulate: int
) -> tuple[list[float], list[float]]:
    """Pre-clip norms and mean undivided losses of each optimizer step of a plain loop that
    accumulates ``accumulate`` micro-batches (loss / accumulate), clips at CLIP, steps SGD."""
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    norms, losses = [], []
    for start in range(0, len(batches), accumulate):
        opt.zero_grad()
        window = batches[start : start + accumulate]
        step_losses = []
        for x, y in window:
            loss = nn.functional.cross_entropy(model(x), y)
            step_losses.append(float(loss.detach()))
            (loss / accumulate).backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)))
        losses.append(sum(step_losses) / len(step_losses))
        opt.step()
    return norms, losses


def test_lightning_reads_the_whole_unclipped_gradient_once_per_optimizer_step(
    recorded: list[tuple[Doctor, int, float | None]],
) -> None:
    pl = pytest.importorskip("lightning.pytorch", reason="lightning is not installed")
    from trainwell.integrations.lightning import DoctorCallback

    x, y = data()

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = net()
            self.loss = nn.CrossEntropyLoss()

        def training_step(self, batch: tuple[torch.Tensor, ...], i: int) -> torch.Tensor:
            return self.loss(self.net(batch[0]), batch[1])

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=LR)

    module = Module()
    start = copy.deepcopy(module.net)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=4)
    trainer = pl.Trainer(
        max_epochs=1,
        accumulate_grad_batches=4,
        gradient_clip_val=CLIP,
        callbacks=[DoctorCallback(thresholds=Thresholds(grad_every=1))],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*num_workers.*")
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*LeafSpec.*")
        trainer.fit(module, loader)

    expected, losses = hand_norms(start, list(zip(x.split(4), y.split(4), strict=True)), 4)
    assert len(expected) == 4
    assert min(expected) > 10 * CLIP
    assert [step for _, step, _ in recorded] == [0, 1, 2, 3]  # once per optimizer step
    assert [total for _, _, total in recorded] == pytest.approx(expected, rel=1e-5)
    doctor = recorded[0][0]
    assert doctor.curve.values == pytest.approx(losses, rel=1e-5)  # undivided by 4


def test_huggingface_trainer_reads_the_norm_before_its_default_clipping(
    recorded: list[tuple[Doctor, int, float | None]], tmp_path: Path
) -> None:
    transformers = pytest.importorskip("transformers", reason="transformers is not installed")
    pytest.importorskip("accelerate", reason="transformers.Trainer needs accelerate")
    from trainwell.integrations.huggingface import DoctorCallback

    x, y = data(48)
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net()

        def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, Any]:
            if self.training:
                seen.append((x.detach().clone(), labels.detach().clone()))
            logits = self.net(x)
            return {"loss": nn.CrossEntropyLoss()(logits, labels), "logits": logits}

    model = Net()
    start = copy.deepcopy(model.net)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path),
        num_train_epochs=1,
        per_device_train_batch_size=8,
        gradient_accumulation_steps=2,
        max_grad_norm=CLIP,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
    )
    rows = [{"x": a, "labels": b} for a, b in zip(x, y, strict=True)]
    constant = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    transformers.Trainer(
        model=model,
        args=args,
        train_dataset=rows,
        optimizers=(opt, constant),
        callbacks=[DoctorCallback(thresholds=Thresholds(grad_every=1))],
    ).train()

    expected, _ = hand_norms(start, seen, 2)
    assert len(expected) == 3
    assert min(expected) > 10 * CLIP
    assert [step for _, step, _ in recorded] == [0, 1, 2]
    assert [total for _, _, total in recorded] == pytest.approx(expected, rel=1e-5)


def test_huggingface_trainer_without_clipping_reads_the_gradient_itself(
    recorded: list[tuple[Doctor, int, float | None]], tmp_path: Path
) -> None:
    transformers = pytest.importorskip("transformers", reason="transformers is not installed")
    pytest.importorskip("accelerate", reason="transformers.Trainer needs accelerate")
    from trainwell.integrations.huggingface import DoctorCallback

    x, y = data(16)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net()

        def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, Any]:
            logits = self.net(x)
            return {"loss": nn.CrossEntropyLoss()(logits, labels), "logits": logits}

    model = Net()
    start = copy.deepcopy(model.net)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path),
        num_train_epochs=1,
        per_device_train_batch_size=16,
        max_grad_norm=0.0,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
    )
    rows = [{"x": a, "labels": b} for a, b in zip(x, y, strict=True)]
    transformers.Trainer(
        model=model,
        args=args,
        train_dataset=rows,
        optimizers=(opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)),
        callbacks=[DoctorCallback()],
    ).train()
    loss = nn.functional.cross_entropy(start(x), y)
    loss.backward()
    true = math.sqrt(sum(float(p.grad.square().sum()) for p in start.parameters()))  # type: ignore[union-attr]
    assert [total for _, _, total in recorded] == pytest.approx([true], rel=1e-5)
