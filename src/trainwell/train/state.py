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
    finished epoch with ``train_loss`` and the validation metrics. ``constant`` names the
    model's ``state_dict`` entries that never change in this run (a pre-trained backbone
    frozen for good): copies of the weights (the best epoch's, the checkpoints) leave them
    out (:meth:`varying_state`).
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
    constant: frozenset[str] = frozenset()

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def varying_state(self) -> dict[str, torch.Tensor]:
        """The model's ``state_dict`` without its ``constant`` entries (references, as
        ``state_dict`` gives them)."""
        return {k: v for k, v in self.model.state_dict().items() if k not in self.constant}

    def load_varying_state(self, varying: dict[str, torch.Tensor]) -> None:
        """Load what :meth:`varying_state` gave; the ``constant`` entries stay as they are.

        Raises:
            RuntimeError: an entry that varies is missing, or an unknown one is given (as
                ``load_state_dict`` raises).
        """
        if not self.constant:
            self.model.load_state_dict(varying)
            return
        current = self.model.state_dict()
        missing = sorted(set(current) - self.constant - set(varying))
        if missing:
            raise RuntimeError(f"Missing key(s) in state_dict: {missing[0]!r}")
        self.model.load_state_dict({**current, **varying})
