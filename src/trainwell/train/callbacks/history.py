"""The training log the report draws from: per-epoch curves and per-step LR and gradient norm.

TensorBoard holds the same signals for interactive viewing (TW-M02); this callback keeps them
in one small JSON file, ``RUN_DIR/training_log.json``, so the report can be rebuilt from the
run directory alone (TW-M01, TW-M03). The file is rewritten atomically after every epoch, so
a stopped run still has its curves, and the callback's state travels in the checkpoints, so a
resumed run's log holds the epochs and steps from before the interruption too.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from trainwell.train.callback import Callback
from trainwell.train.checkpoint import atomic_write_bytes
from trainwell.train.state import TrainState

MAX_STEP_POINTS = 4000  # per-step series are thinned 2x whenever they grow past this


class TrainingLog(Callback):
    """Record the epoch history and, per optimizer step, the loss, learning rate and gradient
    norm; write them to ``path`` as JSON after every epoch and at the end.

    Put it after :class:`~trainwell.train.callbacks.GradientNorm` so the gradient norm it reads
    is the current step's. A step whose norm was not measured (no clipping, between
    ``GradientNorm.every`` steps) records ``None``. Long runs keep every ``stride``-th step
    (the stride doubles whenever the series pass ``MAX_STEP_POINTS``), so the file stays small.

    Example:
        >>> log = TrainingLog(None)
        >>> log.state_dict()["stride"]
        1
    """

    def __init__(self, path: Path | None, monitor: str = "val_loss") -> None:
        self.path = path
        self.monitor = monitor
        self.steps: dict[str, list[Any]] = {"step": [], "epoch": [], "lr": [], "loss": []}
        self.steps["grad_norm"] = []
        self.stride = 1
        # Tensors of the current epoch, turned into floats once per epoch (one device sync).
        self._pending: list[tuple[int, int, float, torch.Tensor | None, torch.Tensor | None]] = []
        self._lr = 0.0
        self._norm: torch.Tensor | None = None
        self._seen: torch.Tensor | None = None

    def on_before_optimizer_step(self, state: TrainState) -> None:
        # The rate the optimizer is about to use (the scheduler moves it after the step).
        self._lr = state.lr
        fresh = state.grad_norm is not None and state.grad_norm is not self._seen
        self._norm = state.grad_norm if fresh else None
        self._seen = state.grad_norm

    def on_step_end(self, state: TrainState) -> None:
        if state.step % self.stride:
            return
        loss = state.loss.detach() if state.loss is not None else None
        norm = self._norm.detach() if self._norm is not None else None
        self._pending.append((state.step, state.epoch, self._lr, loss, norm))

    def on_epoch_end(self, state: TrainState) -> None:
        self._flush()
        self.write(state)

    def on_fit_end(self, state: TrainState) -> None:
        self._flush()
        self.write(state)

    def _flush(self) -> None:
        for step, epoch, lr, loss, norm in self._pending:
            self.steps["step"].append(step)
            self.steps["epoch"].append(epoch)
            self.steps["lr"].append(lr)
            self.steps["loss"].append(_finite(loss))
            self.steps["grad_norm"].append(_finite(norm))
        self._pending = []
        while len(self.steps["step"]) > MAX_STEP_POINTS:
            self.stride *= 2
            keep = [i for i, s in enumerate(self.steps["step"]) if s % self.stride == 0]
            self.steps = {k: [v[i] for i in keep] for k, v in self.steps.items()}

    def log(self, state: TrainState) -> dict[str, Any]:
        """The JSON the report reads: epochs (as ``state.history``), steps, the best epoch."""
        values = [h.get(self.monitor) for h in state.history]
        finite = [(v, i) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
        best = min(finite)[1] + 1 if finite else None
        if isinstance(state.extras.get("best_epoch"), int) and state.extras["best_epoch"] >= 0:
            best = state.extras["best_epoch"] + 1  # early stopping's own choice, once known
        epochs = [
            {k: (int(v) + 1 if k == "epoch" else _finite(v)) for k, v in h.items()}
            for h in state.history
        ]
        return {
            "epochs": epochs,
            "monitor": self.monitor,
            "best_epoch": best,  # 1-based, as the report and the manifest count epochs
            "stopped_early": bool(state.stop),
            "stop_reason": state.stop_reason,
            "max_epochs": state.max_epochs,
            "step_stride": self.stride,
            "steps": self.steps,
        }

    def write(self, state: TrainState) -> None:
        if self.path is None:
            return
        import json

        text = json.dumps(self.log(state), allow_nan=False) + "\n"
        atomic_write_bytes(self.path, text.encode())

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "stride": self.stride}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = {k: list(v) for k, v in state["steps"].items()}
        self.stride = int(state["stride"])


def _finite(value: torch.Tensor | float | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
