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


def fit(
    model,
    opt,
    loss_fn,
    train,
    valid=None,
    epochs: int = 5,
    clip: float | None = None,
    patience: int | None = None,
    min_delta: float = 0.0,
    on_step=None,
    on_epoch_end=None,
    scheduler=None,
    per_batch: bool = False,
):
    """A plain hand-written loop, as in most tutorials (or a framework's, see VARIANT).

    ``train`` is a DataLoader (or, for the plain loop and Lightning, any re-iterable of
    ``(x, y)`` batches). ``patience``: stop once the validation loss has not improved by more
    than ``min_delta`` for that many epochs in a row (Lightning's ``EarlyStopping``, the HF
    ``EarlyStoppingCallback``). ``on_step(loss)`` is the script's own code run with each
    training step's loss tensor (a ``training_step`` or ``compute_loss`` that keeps it);
    ``on_epoch_end(epoch)`` its code at the end of each training epoch. ``scheduler`` is
    stepped after every batch when ``per_batch`` (Lightning's ``"interval": "step"``; the HF
    Trainer steps the scheduler it is given after every optimizer step), else once per epoch
    (a ``ReduceLROnPlateau`` with the batch's or the validation loss).
    """
    options = {
        "clip": clip,
        "patience": patience,
        "min_delta": min_delta,
        "on_step": on_step,
        "on_epoch_end": on_epoch_end,
        "scheduler": scheduler,
        "per_batch": per_batch,
    }
    if VARIANT == "lightning":
        return _fit_lightning(model, opt, loss_fn, train, valid, epochs, **options)
    if VARIANT == "hf":
        return _fit_hf(model, opt, loss_fn, train, valid, epochs, **options)
    best, bad = float("inf"), 0
    for epoch in range(epochs):
        model.train()
        for xb, yb in train:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            if clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            if on_step is not None:
                on_step(loss)
            if scheduler is not None and per_batch:
                scheduler.step(*_plateau_metric(scheduler, loss.item()))
        if on_epoch_end is not None:
            on_epoch_end(epoch)
        val = None
        if valid is not None:
            val = evaluate(model, valid, loss_fn)
            print(f"epoch {epoch} val_loss {val:.4f}")
        if scheduler is not None and not per_batch:
            scheduler.step(*_plateau_metric(scheduler, val))
        if val is not None:
            best, bad = (val, 0) if val < best - min_delta else (best, bad + 1)
            if patience is not None and bad >= patience:
                break
    return model


def _plateau_metric(scheduler, value) -> tuple:
    """The metric a ``ReduceLROnPlateau`` steps on; nothing for other schedulers."""
    return (value,) if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) else ()


def _fit_lightning(
    model,
    opt,
    loss_fn,
    train,
    valid,
    epochs,
    *,
    clip,
    patience,
    min_delta,
    on_step,
    on_epoch_end,
    scheduler,
    per_batch,
):
    import lightning.pytorch as pl

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = model

        def training_step(self, batch, _i):
            xb, yb = batch
            loss = loss_fn(self.model(xb), yb)
            if on_step is not None:
                on_step(loss)
            if _plateau_metric(scheduler, None):  # the metric a per-step plateau monitors
                self.log("train_loss", loss, on_step=True, on_epoch=False)
            return loss

        def on_train_epoch_end(self):
            if on_epoch_end is not None:
                on_epoch_end(self.current_epoch)

        def validation_step(self, batch, _i):
            xb, yb = batch
            self.log("val_loss", loss_fn(self.model(xb), yb))

        def configure_optimizers(self):
            if scheduler is None:
                return opt
            interval = "step" if per_batch else "epoch"
            monitor = "train_loss" if per_batch else "val_loss"
            config = {"scheduler": scheduler, "interval": interval, "monitor": monitor}
            return {"optimizer": opt, "lr_scheduler": config}

    stop = pl.callbacks.EarlyStopping("val_loss", min_delta=min_delta, patience=patience or 1)
    trainer = pl.Trainer(
        max_epochs=epochs,
        callbacks=[stop] if patience is not None else [],
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


def _fit_hf(
    model,
    opt,
    loss_fn,
    train,
    valid,
    epochs,
    *,
    clip,
    patience,
    min_delta,
    on_step,
    on_epoch_end,
    scheduler,
    per_batch,
):
    from torch.utils.data import RandomSampler, SequentialSampler
    from transformers import EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments

    class ScriptTrainer(Trainer):
        def compute_loss(self, model, inputs, *args, **kwargs):
            loss = super().compute_loss(model, inputs, *args, **kwargs)
            if on_step is not None and model.training:
                on_step(loss)
            return loss

        def _get_train_sampler(self, *args, **kwargs):
            # The script's own sampler (e.g. a WeightedRandomSampler), as HF users plug it in.
            if isinstance(train.sampler, (RandomSampler, SequentialSampler)):
                return super()._get_train_sampler(*args, **kwargs)
            return train.sampler

    class EpochEnd(TrainerCallback):
        def on_epoch_end(self, args, state, control, **kwargs):
            if on_epoch_end is not None:
                on_epoch_end(round(state.epoch or 0) - 1)

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
            metric_for_best_model="loss" if patience is not None else None,
        )
        callbacks: list = [EpochEnd()]
        if patience is not None:
            callbacks.append(EarlyStoppingCallback(patience, min_delta))
        if scheduler is None:
            schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda _step: 1.0)
        elif per_batch:  # the Trainer steps the scheduler it is given after every step
            schedule = scheduler
        else:  # an epoch schedule converted to optimizer steps, as HF users write it
            schedule = _EveryEpoch(scheduler, len(train))
        ScriptTrainer(
            model=WithLoss(),
            args=args,
            train_dataset=train.dataset,
            eval_dataset=valid.dataset if valid is not None else None,
            data_collator=collate,
            optimizers=(opt, schedule),
            callbacks=callbacks,
        ).train()
    return model


class _EveryEpoch:
    """Steps an epoch-based scheduler once every ``steps`` calls (the Trainer calls per step)."""

    def __init__(self, scheduler, steps: int):
        self.scheduler, self.steps, self.calls = scheduler, steps, 0

    def step(self) -> None:
        self.calls += 1
        if self.calls % self.steps == 0:
            self.scheduler.step()

    def get_last_lr(self) -> list[float]:
        return self.scheduler.get_last_lr()

    def state_dict(self) -> dict:
        return {"calls": self.calls, "scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.calls = state["calls"]
        self.scheduler.load_state_dict(state["scheduler"])
