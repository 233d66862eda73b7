"""Early stopping on a validation metric, restoring the best weights (TW-T04)."""

from __future__ import annotations

import math
from typing import Any

import torch

from trainwell.train.callback import Callback
from trainwell.train.state import TrainState


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs; restore the best weights.

    An improvement must beat the best value by ``min_delta`` (relative), so noise in the
    last decimals does not keep a finished run going.
    """

    def __init__(
        self, monitor: str = "val_loss", patience: int = 10, min_delta: float = 1e-4
    ) -> None:
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.best = math.inf
        self.best_epoch = -1
        self.wait = 0
        self.best_weights: dict[str, torch.Tensor] | None = None

    def on_epoch_end(self, state: TrainState) -> None:
        value = state.validation.get(self.monitor)
        if value is None or not math.isfinite(value):
            return
        if value < self.best - self.min_delta * abs(self.best if math.isfinite(self.best) else 0):
            self.best, self.best_epoch, self.wait = value, state.epoch, 0
            self.best_weights = {k: v.detach().clone() for k, v in state.varying_state().items()}
        else:
            self.wait += 1
            if self.wait >= self.patience:
                state.stop = True
                state.stop_reason = (
                    f"early stopping: {self.monitor} did not improve for {self.patience} epochs "
                    f"(best {self.best:.4g} at epoch {self.best_epoch + 1})"
                )

    def on_fit_end(self, state: TrainState) -> None:
        if self.best_weights is not None:
            state.load_varying_state(self.best_weights)
        state.extras["best_epoch"] = self.best_epoch

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best if math.isfinite(self.best) else None,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "best_weights": self.best_weights,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = math.inf if state["best"] is None else state["best"]
        self.best_epoch = state["best_epoch"]
        self.wait = state["wait"]
        self.best_weights = state["best_weights"]
