"""The state one training run shares with its callbacks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class TrainState:
    """What the loop knows; callbacks read it and may set ``stop`` to end training.

    ``step`` counts optimizer steps (not micro-batches) since the start of the run;
    ``loss`` is the last micro-batch's loss (detached); ``history`` holds one dict per
    finished epoch with ``train_loss`` and the validation metrics.
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
    max_epochs: int = 1
    epoch: int = 0
    step: int = 0
    batch: int = 0
    loss: torch.Tensor | None = None
    grad_norm: torch.Tensor | None = None
    epoch_loss_sum: float = 0.0
    epoch_batches: int = 0
    validation: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    stop: bool = False
    stop_reason: str = ""
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])
