"""The doctor's remedy: rescue a run that diverged or went NaN, and say what was done.

The doctor only observes (TW-X02, TW-X05); this callback acts on what it reports. After each
optimizer step it asks the doctor whether training diverged or produced NaN/Inf; if so it
restores the last good state (the end of the last epoch with a finite validation loss, or
the start of training), lowers the learning rate, turns gradient clipping on when it was
off, and lets training go on. Each rescue is a ``remedy-applied`` finding. After
``max_remedies`` rescues the run stops instead of looping.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch

from trainwell.doctor.callback import DoctorCallback
from trainwell.doctor.remedy import remedy_finding
from trainwell.train.callback import Callback
from trainwell.train.callbacks.grad_norm import GradientNorm
from trainwell.train.state import TrainState

# Keys of an optimizer param group that hold learning rates a scheduler reads: torch's
# schedulers keep the starting rate in "initial_lr"; OneCycleLR also "max_lr" and "min_lr".
_LR_KEYS = ("lr", "initial_lr", "max_lr", "min_lr")


def scale_lr(
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    factor: float,
) -> None:
    """Multiply every learning rate the optimizer and its scheduler hold by ``factor``.

    Schedules built on ``LambdaLR`` and most torch schedulers derive the rate from
    ``base_lrs``; ``ReduceLROnPlateau`` keeps floors in ``min_lrs``. Scaling all of them
    keeps the schedule's shape and lowers its level.
    """
    for group in optimizer.param_groups:
        for key in _LR_KEYS:
            if isinstance(group.get(key), float | int):
                group[key] = group[key] * factor
    for attr in ("base_lrs", "min_lrs"):
        values = getattr(scheduler, attr, None)
        if isinstance(values, list):
            setattr(scheduler, attr, [v * factor for v in values])


class Remedy(Callback):
    """Restore, lower the LR and clip when the doctor reports divergence or NaN.

    Put it after the :class:`DoctorCallback` whose findings it reacts to. The last good state
    is kept in memory (a copy of the model and optimizer states at each good epoch end), so a
    rescue costs no disk read; the scheduler is not rewound, so the step count and the
    schedule stay in step with the loop.

    Args:
        doctor: the doctor callback of this run.
        grad_norm: the clipping callback; its ``max_norm`` is set when clipping was off.
        lr_factor: the learning rate is multiplied by this at each rescue.
        clip_grad_norm: the clipping threshold turned on by a rescue.
        max_remedies: rescues allowed before the run is stopped.
    """

    def __init__(
        self,
        doctor: DoctorCallback,
        grad_norm: GradientNorm,
        *,
        lr_factor: float = 0.1,
        clip_grad_norm: float = 1.0,
        max_remedies: int = 3,
    ) -> None:
        self.doctor = doctor
        self.grad_norm = grad_norm
        self.lr_factor = lr_factor
        self.clip_grad_norm = clip_grad_norm
        self.max_remedies = max_remedies
        self.applied = 0
        self.clip: float | None = None  # the clipping a rescue turned on, kept across resume
        self._good: dict[str, Any] | None = None

    def on_fit_start(self, state: TrainState) -> None:
        if self.clip is not None and self.grad_norm.max_norm is None:
            self.grad_norm.max_norm = self.clip
        self._keep(state)

    def on_epoch_end(self, state: TrainState) -> None:
        val = state.history[-1].get("val_loss", 0.0) if state.history else 0.0
        if math.isfinite(val):
            self._keep(state)

    def on_step_end(self, state: TrainState) -> None:
        cause = self.doctor.needs_remedy()
        if cause is None or self._good is None:
            return
        if self.applied >= self.max_remedies:
            state.stop = True
            state.stop_reason = (
                f"stopped: {cause.id} again after {self.applied} rescues "
                f"(doctor.max_remedies={self.max_remedies})"
            )
            return
        old_lr = state.lr
        state.model.load_state_dict(self._good["model"])
        state.optimizer.load_state_dict(copy.deepcopy(self._good["optimizer"]))
        scale_lr(state.optimizer, state.scheduler, self.lr_factor)
        turned_on = None
        if self.grad_norm.max_norm is None:
            self.grad_norm.max_norm = self.clip = self.clip_grad_norm
            turned_on = self.clip
        # The diverged batches' losses would make the epoch's mean loss meaningless.
        state.epoch_loss_sum, state.epoch_batches = 0.0, 0
        self.applied += 1
        self.doctor.acknowledge_remedy(
            remedy_finding(
                cause,
                restored_step=self._good["step"],
                old_lr=old_lr,
                new_lr=state.lr,
                clip_grad_norm=turned_on,
                step=state.step,
                epoch=state.epoch,
            )
        )

    def _keep(self, state: TrainState) -> None:
        self._good = {
            "step": state.step,
            "model": {k: v.detach().clone() for k, v in state.model.state_dict().items()},
            "optimizer": copy.deepcopy(state.optimizer.state_dict()),
        }

    def state_dict(self) -> dict[str, Any]:
        return {"applied": self.applied, "clip": self.clip}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.applied = int(state.get("applied", 0))
        self.clip = state.get("clip")
