"""The callback interface: every optional part of training hangs off these hooks.

Hooks default to doing nothing, so a callback overrides only what it needs. Callbacks run in
the order given; each owns one concern (STYLE.md 2). Callbacks that must survive ``--resume``
implement ``state_dict``/``load_state_dict`` (JSON-able values and tensors only).
"""

from __future__ import annotations

from typing import Any

from trainwell.train.state import TrainState


class Callback:
    """Base class with empty hooks, called by :func:`trainwell.train.loop.train`.

    Order within one optimizer step: ``on_before_optimizer_step`` (gradients are complete
    and unscaled) then ``on_step_end`` (after ``optimizer.step()`` and the scheduler).
    """

    def on_fit_start(self, state: TrainState) -> None:
        """Before the first epoch (also after a resume, with state restored)."""

    def on_epoch_start(self, state: TrainState) -> None:
        """Before the first batch of ``state.epoch``."""

    def on_before_optimizer_step(self, state: TrainState) -> None:
        """Gradients of the whole (accumulated) step are ready; clip or inspect them here."""

    def on_step_end(self, state: TrainState) -> None:
        """After ``optimizer.step()``; ``state.step`` already counts this step."""

    def on_epoch_end(self, state: TrainState) -> None:
        """After validation; ``state.validation`` and ``state.history[-1]`` are this epoch's."""

    def on_fit_end(self, state: TrainState) -> None:
        """After the last epoch or a stop; runs even if a callback asked to stop."""

    def on_exception(self, state: TrainState) -> None:
        """An exception stopped training (Ctrl-C, SIGTERM, or an error; it is re-raised and
        ``on_fit_end`` will not run): release what ``on_fit_start`` took, such as a live
        display on the terminal or global module hooks (as Lightning's ``on_exception``)."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        del state
