"""TensorBoard logging of losses, metrics, learning rate and gradient norm (TW-M01-M03)."""

from __future__ import annotations

from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from trainwell.train.callback import Callback
from trainwell.train.state import TrainState


class TensorBoardLogger(Callback):
    """Step scalars every ``every`` optimizer steps; epoch scalars after each validation."""

    def __init__(self, folder: Path, every: int = 10) -> None:
        self.folder = folder
        self.every = every
        self.writer: SummaryWriter | None = None

    def on_fit_start(self, state: TrainState) -> None:
        self.writer = SummaryWriter(str(self.folder))

    def on_step_end(self, state: TrainState) -> None:
        if self.writer is None or state.step % self.every:
            return
        if state.loss is not None:
            self.writer.add_scalar("step/train_loss", float(state.loss), state.step)
        self.writer.add_scalar("step/lr", state.lr, state.step)
        if state.grad_norm is not None:
            self.writer.add_scalar("step/grad_norm", float(state.grad_norm), state.step)

    def on_epoch_end(self, state: TrainState) -> None:
        if self.writer is None:
            return
        for name, value in state.history[-1].items():
            if name != "epoch":
                self.writer.add_scalar(f"epoch/{name}", value, state.epoch + 1)
        self.writer.flush()

    def on_fit_end(self, state: TrainState) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
