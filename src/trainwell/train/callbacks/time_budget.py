"""A time budget for training (``train.time_budget=10m``): plan the epochs that fit, stop
cleanly when the next would not, and leave the best weights in place (TW-T04).

The budget counts this session's training (the loop, validation included; not the LR range
test before it). After each epoch the mean epoch time so far plans how many epochs the rest
of the budget holds (the progress bar shows it and the estimated time to finish); when not
even one more fits, training stops there. Should the budget run out inside an epoch (a first
epoch longer than the whole budget), it stops at the next step. Either way
:class:`~trainwell.train.callbacks.early_stopping.EarlyStopping` then restores the weights of
the best validated epoch, and the run says so: the stop reason in the manifest and a
``time-budget-reached`` finding.
"""

from __future__ import annotations

import math
import time
from typing import Any

from trainwell.findings import Finding
from trainwell.train.callback import Callback
from trainwell.train.state import TrainState


def now() -> float:
    """The budget's clock (monotonic seconds); tests replace it with a fake one."""
    return time.monotonic()


def format_seconds(seconds: float) -> str:
    """``600`` -> ``"10m"``, ``95`` -> ``"1m35s"``, ``5400`` -> ``"1h30m"``; under ten
    seconds to a tenth (``0.18`` -> ``"0.2s"``), so a short epoch does not read as none."""
    if seconds < 9.95:
        return f"{seconds:.1f}s"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{secs}s" if secs or not text else "")


class TimeBudget(Callback):
    """Stop training when ``seconds`` of it are spent (see the module docstring)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.start = 0.0
        self.first_epoch = 0
        self.stopped: dict[str, Any] | None = None

    def on_fit_start(self, state: TrainState) -> None:
        self.start, self.first_epoch = now(), state.epoch

    def on_step_end(self, state: TrainState) -> None:
        elapsed = now() - self.start
        if elapsed >= self.seconds and not state.stop:
            self._stop(state, elapsed, f"during epoch {state.epoch + 1}, before it was validated")

    def on_epoch_end(self, state: TrainState) -> None:
        elapsed = now() - self.start
        done = state.epoch + 1 - self.first_epoch
        per_epoch = elapsed / done
        more = max(0, math.floor((self.seconds - elapsed) / per_epoch)) if per_epoch > 0 else 0
        planned = min(state.max_epochs, state.epoch + 1 + more)
        state.extras["planned_epochs"] = planned
        state.extras["eta_s"] = per_epoch * (planned - state.epoch - 1)
        if not state.stop and more == 0 and state.epoch + 1 < state.max_epochs:
            self._stop(
                state, elapsed, f"after epoch {state.epoch + 1}: another would take "
                f"~{format_seconds(per_epoch)}",
            )  # fmt: skip

    def _stop(self, state: TrainState, elapsed: float, where: str) -> None:
        state.stop = True
        state.stop_reason = (
            f"time budget {format_seconds(self.seconds)} (train.time_budget) reached {where}; "
            f"{format_seconds(elapsed)} spent; the best epoch's weights were kept"
        )
        self.stopped = {"epoch": state.epoch + 1, "elapsed_s": round(elapsed, 3)}

    def findings(self, best_epoch: int) -> list[Finding]:
        """A note that the budget ended training, with the epoch whose weights were kept
        (``best_epoch`` counted from 1; 0 when no epoch was validated)."""
        if self.stopped is None:
            return []
        kept = (
            f"the weights of epoch {best_epoch}, the best on validation loss, were kept"
            if best_epoch > 0
            else "no epoch was validated before the budget ran out: the weights are those "
            "of the last step"
        )
        return [
            Finding(
                id="time-budget-reached",
                practice="TW-T04",
                severity="warning" if best_epoch <= 0 else "info",
                stage="train",
                epoch=self.stopped["epoch"],
                message=f"Training stopped at its time budget of "
                f"{format_seconds(self.seconds)} (train.time_budget) in epoch "
                f"{self.stopped['epoch']}, before early stopping ended it; {kept}.",
                evidence={"budget_s": self.seconds, **self.stopped, "best_epoch": best_epoch},
                fix="Nothing to do if the metrics suffice; for a model that trains to the end, "
                "raise train.time_budget or remove it.",
            )
        ]
