"""Progress on the terminal: a live bar on a TTY, a line every few seconds otherwise."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from trainwell.train.callback import Callback
from trainwell.train.callbacks.time_budget import format_seconds
from trainwell.train.state import TrainState


class ProgressBar(Callback):
    def __init__(self, console: Console, every_seconds: float = 5.0) -> None:
        self.console = console
        self.every_seconds = every_seconds
        self.progress: Progress | None = None
        self.task = TaskID(0)
        self.last_line = 0.0

    def _describe(self, state: TrainState) -> str:
        last = state.history[-1] if state.history else {}
        parts = [f"epoch {state.epoch + 1}"]
        if "train_loss" in last:
            parts.append(f"train_loss {last['train_loss']:.4f}")
        if "val_loss" in last:
            parts.append(f"val_loss {last['val_loss']:.4f}")
        if "eta_s" in state.extras:  # planned by train.time_budget
            planned, eta = state.extras["planned_epochs"], state.extras["eta_s"]
            parts.append(f"~{format_seconds(eta)} to finish ({planned} epochs planned)")
        return "  ".join(parts)

    def on_fit_start(self, state: TrainState) -> None:
        if self.console.is_terminal:
            self.progress = Progress(
                TextColumn("[bold]training[/]"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task("", total=state.max_epochs, completed=state.epoch)
        self.last_line = time.monotonic()

    def on_epoch_end(self, state: TrainState) -> None:
        text = self._describe(state)
        if self.progress is not None:
            total = state.extras.get("planned_epochs", state.max_epochs)
            self.progress.update(
                self.task, completed=state.epoch + 1, total=total, description=text
            )
        elif time.monotonic() - self.last_line >= self.every_seconds:
            self.console.print(f"  training: {text}", highlight=False)
            self.last_line = time.monotonic()

    def on_fit_end(self, state: TrainState) -> None:
        if self.progress is not None:
            self.progress.stop()  # transient: the bar is cleared from the terminal
            self.progress = None

    def on_exception(self, state: TrainState) -> None:
        self.on_fit_end(state)
