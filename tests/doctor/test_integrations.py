"""Lightning and Hugging Face callbacks on tiny models (skipped when not installed)."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from tests.doctor.conftest import blobs


def test_lightning_callback_finds_a_planted_fault() -> None:
    pl = pytest.importorskip("lightning.pytorch", reason="lightning is not installed")
    from trainwell.integrations.lightning import DoctorCallback

    x, y = blobs()

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3), nn.Softmax(1))
            self.loss = nn.CrossEntropyLoss()

        def training_step(self, batch: tuple[torch.Tensor, ...], i: int) -> torch.Tensor:
            return self.loss(self.net(batch[0]), batch[1])

        def validation_step(self, batch: tuple[torch.Tensor, ...], i: int) -> None:
            self.log("val_loss", self.loss(self.net(batch[0]), batch[1]))

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.Adam(self.parameters(), 1e-3)

    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32)
    cb = DoctorCallback()
    trainer = pl.Trainer(
        max_epochs=2,
        callbacks=[cb],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        num_sanity_val_steps=0,
    )
    with warnings.catch_warnings():
        # Lightning's advice about DataLoader workers; irrelevant for in-memory tensors.
        warnings.filterwarnings("ignore", message=".*num_workers.*")
        # Lightning 2.6 on torch 2.13 uses a deprecated pytree API internally.
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*LeafSpec.*")
        trainer.fit(Module(), loader, loader)
    assert [f.id for f in cb.findings if f.severity != "info"] == ["output-loss-mismatch"]


def test_huggingface_callback_finds_a_planted_fault(tmp_path: object) -> None:
    transformers = pytest.importorskip("transformers", reason="transformers is not installed")
    pytest.importorskip("accelerate", reason="transformers.Trainer needs accelerate")
    from trainwell.integrations.huggingface import DoctorCallback

    x, y = blobs()

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3), nn.Softmax(1))

        def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
            logits = self.net(x)
            return {"loss": nn.CrossEntropyLoss()(logits, labels), "logits": logits}

    rows = [{"x": a, "labels": b} for a, b in zip(x, y, strict=True)]
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path),
        num_train_epochs=1,
        per_device_train_batch_size=32,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
    )
    cb = DoctorCallback()
    transformers.Trainer(model=Net(), args=args, train_dataset=rows, callbacks=[cb]).train()
    assert [f.id for f in cb.findings if f.severity != "info"] == ["output-loss-mismatch"]
