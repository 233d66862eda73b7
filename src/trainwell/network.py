"""Training the network: model, optimizer, schedule and callbacks put around the loop."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from trainwell.baselines import Arrays, Candidate, set_target_scaling
from trainwell.config import FitConfig, Task
from trainwell.model import Objective, TabularNet, init_output_bias, mlp_spec, n_outputs, size_mlp
from trainwell.preprocess import TabularInput
from trainwell.train.callback import Callback
from trainwell.train.callbacks import (
    Checkpointing,
    EarlyStopping,
    GradientNorm,
    ProgressBar,
    TensorBoardLogger,
)
from trainwell.train.callbacks.checkpointing import restore
from trainwell.train.loop import InMemoryData, train
from trainwell.train.precision import Precision, resolve_precision
from trainwell.train.schedule import warmup_cosine
from trainwell.train.state import TrainState


def choose_batch_size(n_train: int, requested: int | None) -> tuple[int, str]:
    """A batch size for ``n_train`` rows and why (TW-T07): 16-128 is the typical range, with
    at least ~15 steps per epoch so early stopping and the schedule have steps to work with."""
    if requested is not None:
        return requested, "set in config"
    size = int(np.clip(2 ** math.floor(math.log2(max(1, n_train / 15))), 16, 128))
    size = min(size, max(1, n_train))
    return size, f"{n_train} training rows: {size} keeps >= 15 steps per epoch (16-128 range)"


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on weight matrices only; biases, norms and embeddings are not decayed
    (decaying them shrinks offsets and scales without regularizing anything) (TW-T05)."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            is_matrix = name == "weight" and isinstance(module, torch.nn.Linear)
            (decay if is_matrix else no_decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def make_optimizer(model: torch.nn.Module, cfg: FitConfig) -> torch.optim.Optimizer:
    groups = param_groups(model, cfg.train.weight_decay)
    if cfg.train.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.train.lr, momentum=cfg.train.momentum, nesterov=True)
    return torch.optim.AdamW(groups, lr=cfg.train.lr)  # TW-T01


@dataclass
class NetworkResult:
    candidate: Candidate
    state: TrainState
    details: dict[str, Any]


class Validator:
    """Validation loss (the training objective) and one readable metric, in eval mode."""

    def __init__(self, objective: Objective, val: Arrays, y: torch.Tensor, task: Task) -> None:
        self.objective = objective
        self.num = torch.from_numpy(val.num)
        self.cat = torch.from_numpy(val.cat)
        self.y = y
        self.task = task

    @torch.no_grad()
    def __call__(self, model: torch.nn.Module) -> dict[str, float]:
        model.eval()
        device = next(model.parameters()).device
        out = model(self.num.to(device), self.cat.to(device)).float().cpu()
        result = {"val_loss": float(self.objective.cpu()(out, self.y))}
        if self.task == "regression":
            assert isinstance(model, TabularNet)
            rmse = torch.sqrt(torch.mean((out[:, 0] - self.y) ** 2)) * model.target_std.cpu()
            result["val_rmse"] = float(rmse)
        else:
            pred = (out[:, 0] > 0).long() if self.task == "binary" else out.argmax(1)
            result["val_accuracy"] = float((pred == self.y).float().mean())
        return result


def train_network(
    task: Task,
    train_arrays: Arrays,
    val_arrays: Arrays,
    levels: list[int],
    class_weights: np.ndarray | None,
    cfg: FitConfig,
    *,
    checkpoints: Path | None,
    tensorboard: Path | None,
    resume_from: Path | None = None,
    callbacks: Sequence[Callback] = (),
    console: Console | None = None,
) -> NetworkResult:
    """Build the network for the data, train it with every default on, return the best one."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    n_classes = len(class_weights) if class_weights is not None else int(train_arrays.y.max()) + 1
    inputs = TabularInput.fit(
        train_arrays.num,
        train_arrays.cat,
        levels,
        embedding_threshold=cfg.model.embedding_threshold,
    )
    width, depth = size_mlp(len(train_arrays), cfg.model)
    head = mlp_spec(inputs.out_features, n_outputs(task, n_classes), width, depth, cfg.model)
    net = TabularNet(inputs, head, task)
    if task == "regression":
        set_target_scaling(net, train_arrays.y)
    init_output_bias(net, train_arrays.y, weighted=class_weights is not None)
    net.to(device)

    def target(arrays: Arrays) -> torch.Tensor:
        if task == "regression":
            scaled = (arrays.y - float(net.target_mean)) / float(net.target_std)
            return torch.from_numpy(scaled.astype(np.float32))
        return torch.from_numpy(arrays.y.astype(np.int64))

    weights = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32)
    objective = Objective(task, weights).to(device)
    batch_size, batch_reason = choose_batch_size(len(train_arrays), cfg.train.batch_size)
    data = InMemoryData(
        (torch.from_numpy(train_arrays.num), torch.from_numpy(train_arrays.cat)),
        target(train_arrays),
        batch_size,
        seed=cfg.seed,
        device=device,
    )
    optimizer = make_optimizer(net, cfg)
    steps_per_epoch = math.ceil(len(data) / cfg.train.accumulate)
    total_steps = steps_per_epoch * cfg.train.max_epochs
    scheduler = None
    if cfg.train.schedule == "warmup_cosine":
        warmup = min(total_steps // 2, round(cfg.train.warmup_epochs * steps_per_epoch))
        scheduler = warmup_cosine(optimizer, total_steps, warmup)
    mode = resolve_precision(cfg.train.precision, device)
    precision = Precision(mode, device.type)

    early = EarlyStopping("val_loss", patience=cfg.train.patience)
    all_callbacks: list[Callback] = [GradientNorm(cfg.train.clip_grad_norm), early]
    if checkpoints is not None:
        all_callbacks.append(
            Checkpointing(checkpoints, [early], precision, keep=cfg.train.checkpoint_keep)
        )
    if tensorboard is not None and cfg.logging.tensorboard:
        all_callbacks.append(TensorBoardLogger(tensorboard, every=cfg.logging.log_every))
    if console is not None and cfg.logging.progress:
        all_callbacks.append(ProgressBar(console))
    all_callbacks.extend(callbacks)

    state = TrainState(net, optimizer, scheduler, max_epochs=cfg.train.max_epochs)
    if resume_from is not None:
        restore(resume_from, state, [early], precision)
    state = train(
        net,
        optimizer,
        objective,
        data,
        max_epochs=cfg.train.max_epochs,
        scheduler=scheduler,
        callbacks=all_callbacks,
        validate=Validator(objective, val_arrays, target(val_arrays), task),
        accumulate=cfg.train.accumulate,
        precision=precision,
        state=state,
    )
    net.cpu().eval()
    details = {
        "width": width,
        "depth": depth,
        "parameters": sum(p.numel() for p in net.parameters()),
        "batch_size": batch_size,
        "batch_size_reason": batch_reason,
        "precision": mode,
        "device": str(device),
        "epochs_run": len(state.history),
        "best_epoch": early.best_epoch + 1,
        "steps": state.step,
        "stop_reason": state.stop_reason or f"reached train.max_epochs={cfg.train.max_epochs}",
    }
    return NetworkResult(Candidate("network", net, {"task": task}), state, details)
