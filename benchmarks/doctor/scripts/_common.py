"""Shared data and a plain training loop for the doctor benchmark scripts.

Every script trains on small synthetic data (no downloads) in a few seconds on a CPU.
``--fixed`` switches a faulty script to its corrected twin.

``--variant=NAME`` runs the same script another way (``score.py --variants``):

* ``functional``: every ``nn.*Loss(...)`` the script builds is a plain function calling
  ``torch.nn.functional`` instead (``nn.CrossEntropyLoss(weight=w)`` becomes
  ``partial(F.cross_entropy, weight=w)``): the loss a script writes as ``F.cross_entropy``.
* ``lightning``: :func:`fit` trains through a Lightning ``Trainer`` (``training_step``,
  ``validation_step``, ``configure_optimizers`` returning the script's optimizer).
* ``hf``: :func:`fit` trains through the Hugging Face ``Trainer``: the model returns its own
  ``loss`` (``outputs.loss``), the script's optimizer at a constant LR, the Trainer's own
  defaults otherwise (shuffled batches, ``max_grad_norm=1.0`` unless the script clips).
"""

from __future__ import annotations

import functools
import sys
import tempfile
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

FIXED = "--fixed" in sys.argv
VARIANT = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--variant=")), "")

_FUNCTIONAL = {
    "CrossEntropyLoss": F.cross_entropy,
    "NLLLoss": F.nll_loss,
    "MSELoss": F.mse_loss,
    "L1Loss": F.l1_loss,
    "SmoothL1Loss": F.smooth_l1_loss,
    "HuberLoss": F.huber_loss,
    "BCELoss": F.binary_cross_entropy,
    "BCEWithLogitsLoss": F.binary_cross_entropy_with_logits,
}


def _as_function(fn: Any) -> Any:
    def make(*args: Any, **kwargs: Any) -> Any:
        if args:
            raise TypeError("benchmark scripts pass loss options by keyword")
        return functools.partial(fn, **kwargs)

    return make


if VARIANT == "functional":
    for _name, _fn in _FUNCTIONAL.items():
        setattr(nn, _name, _as_function(_fn))


def seed(s: int = 0) -> None:
    torch.manual_seed(s)
    # Tiny models: one thread is fastest and keeps parallel benchmark runs from contending.
    torch.set_num_threads(1)


def blobs(n: int = 1200, d: int = 20, k: int = 4, noise: float = 1.0, s: int = 0):
    g = torch.Generator().manual_seed(s)
    centers = torch.randn(k, d, generator=g) * 1.5
    y = torch.randint(0, k, (n,), generator=g)
    x = centers[y] + noise * torch.randn(n, d, generator=g)
    return x, y


def regression(n: int = 1200, d: int = 10, s: int = 0):
    g = torch.Generator().manual_seed(s)
    x = torch.randn(n, d, generator=g)
    w = torch.randn(d, 1, generator=g)
    y = torch.tanh(x @ w / 2) * 2 + 0.1 * torch.randn(n, 1, generator=g)
    return x, (y - y.mean()) / y.std()


def images(n: int = 800, k: int = 4, size: int = 12, s: int = 0):
    g = torch.Generator().manual_seed(s)
    y = torch.randint(0, k, (n,), generator=g)
    x = 0.5 * torch.randn(n, 1, size, size, generator=g)
    for c in range(k):  # each class lights up one quadrant
        r, q = divmod(c, 2)
        h = size // 2
        x[y == c, :, r * h : (r + 1) * h, q * h : (q + 1) * h] += 1.0
    return x, y


def sequences(n: int = 600, t: int = 12, d: int = 6, k: int = 3, s: int = 0):
    g = torch.Generator().manual_seed(s)
    y = torch.randint(0, k, (n,), generator=g)
    x = torch.randn(n, t, d, generator=g) * 0.5
    x[:, :, 0] += (y.float() - 1).unsqueeze(1)
    return x, y


def tokens(n: int = 600, t: int = 16, vocab: int = 50, k: int = 2, s: int = 0):
    g = torch.Generator().manual_seed(s)
    y = torch.randint(0, k, (n,), generator=g)
    x = torch.randint(2, vocab, (n, t), generator=g)
    x[:, 0] = y  # the label token sits at position 0
    return x, y


def split(x, y, val: float = 0.2):
    n_val = int(len(y) * val)
    return (x[n_val:], y[n_val:]), (x[:n_val], y[:n_val])


def loaders(x, y, batch_size: int = 32, shuffle: bool = True, val: float = 0.2):
    (xt, yt), (xv, yv) = split(x, y, val)
    train = DataLoader(TensorDataset(xt, yt), batch_size=batch_size, shuffle=shuffle)
    valid = DataLoader(TensorDataset(xv, yv), batch_size=256)
    return train, valid


def mlp(d: int, k: int, hidden: int = 64, depth: int = 2, act=nn.ReLU) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(d if i == 0 else hidden, hidden), act()]
    return nn.Sequential(*layers, nn.Linear(hidden, k))


def evaluate(model, loader, loss_fn) -> float:
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for xb, yb in loader:
            total += float(loss_fn(model(xb), yb)) * len(yb)
            n += len(yb)
    return total / n


def fit(model, opt, loss_fn, train, valid=None, epochs: int = 5, clip: float | None = None):
    """A plain hand-written loop, as in most tutorials (or a framework's, see VARIANT)."""
    if VARIANT == "lightning":
        return _fit_lightning(model, opt, loss_fn, train, valid, epochs, clip)
    if VARIANT == "hf":
        return _fit_hf(model, opt, loss_fn, train, valid, epochs, clip)
    for epoch in range(epochs):
        model.train()
        for xb, yb in train:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            if clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
        if valid is not None:
            val = evaluate(model, valid, loss_fn)
            print(f"epoch {epoch} val_loss {val:.4f}")
    return model


def _fit_lightning(model, opt, loss_fn, train, valid, epochs, clip):
    import lightning.pytorch as pl

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = model

        def training_step(self, batch, _i):
            xb, yb = batch
            return loss_fn(self.model(xb), yb)

        def validation_step(self, batch, _i):
            xb, yb = batch
            self.log("val_loss", loss_fn(self.model(xb), yb))

        def configure_optimizers(self):
            return opt

    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        gradient_clip_val=clip,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(Module(), train, valid)
    return model


def _fit_hf(model, opt, loss_fn, train, valid, epochs, clip):
    from transformers import Trainer, TrainingArguments

    class WithLoss(nn.Module):  # a model that returns its own loss, as HF models do
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x, labels=None):
            out = self.model(x)
            return {"loss": loss_fn(out, labels), "logits": out}

    def collate(rows):
        return {"x": torch.stack([r[0] for r in rows]), "labels": torch.stack([r[1] for r in rows])}

    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(
            output_dir=tmp,
            per_device_train_batch_size=train.batch_size,
            per_device_eval_batch_size=256,
            num_train_epochs=epochs,
            max_grad_norm=clip if clip is not None else 1.0,
            eval_strategy="epoch" if valid is not None else "no",
            save_strategy="no",
            logging_strategy="no",
            report_to="none",
            disable_tqdm=True,
            use_cpu=True,
            remove_unused_columns=False,
            dataloader_num_workers=0,
        )
        constant = torch.optim.lr_scheduler.LambdaLR(opt, lambda _step: 1.0)
        Trainer(
            model=WithLoss(),
            args=args,
            train_dataset=train.dataset,
            eval_dataset=valid.dataset if valid is not None else None,
            data_collator=collate,
            optimizers=(opt, constant),
        ).train()
    return model
