"""Learning-rate schedules (TW-T03), chosen by ``train.schedule``.

=================  ===========================================================================
``warmup_cosine``  linear warmup over ``train.warmup_epochs``, then cosine decay to zero
                   (the default)
``one_cycle``      Smith's one-cycle policy: up to the LR at ``train.one_cycle_peak`` of
                   training, then down to 1/10,000 of the start (``OneCycleLR``)
``step``           multiply the LR by ``train.step_gamma`` at each of ``train.step_milestones``
                   (fractions of ``train.max_epochs``) (``MultiStepLR``)
``plateau``        multiply the LR by ``train.plateau_factor`` when the validation loss has not
                   improved for ``train.plateau_patience`` epochs (``ReduceLROnPlateau``)
``cosine_restarts``  cosine decay restarted every ``train.restart_epochs`` epochs, each cycle
                   ``train.restart_mult`` times longer (``CosineAnnealingWarmRestarts``)
``constant``       no schedule
=================  ===========================================================================

Every schedule but ``plateau`` is stepped by the loop after each optimizer step, so cycle
lengths are exact in steps; ``plateau`` is stepped once per epoch with the validation loss by
:class:`PlateauStep`. All are torch schedulers (``warmup_cosine`` a ``LambdaLR``), so their
``state_dict`` goes into every checkpoint and ``--resume`` continues them exactly, and all
derive the rate from values the doctor's remedy scales (``base_lrs``, the param groups'
``lr``/``initial_lr``/``max_lr``/``min_lr``, ``min_lrs``): see
:func:`trainwell.train.callbacks.remedy.scale_lr`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch.optim import lr_scheduler

from trainwell.train.callback import Callback
from trainwell.train.state import TrainState

if TYPE_CHECKING:
    from trainwell.config import TrainConfig

SCHEDULES = ("warmup_cosine", "one_cycle", "step", "plateau", "cosine_restarts", "constant")


def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup_steps: int,
    final_fraction: float = 0.0,
) -> lr_scheduler.LambdaLR:
    """Linear warmup over ``warmup_steps``, then cosine decay to ``final_fraction`` of the LR
    at ``total_steps`` (stepped once per optimizer step).

    One ``LambdaLR`` rather than ``SequentialLR(LinearLR, CosineAnnealingLR)``: the same
    curve with one flat, resumable state and one ``base_lrs`` for the remedy to scale.
    """

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))

    return lr_scheduler.LambdaLR(optimizer, factor)


class PlateauStep(Callback):
    """Step a ``ReduceLROnPlateau`` with the epoch's validation metric.

    Put it before ``Checkpointing`` so the checkpoint holds the stepped scheduler. An epoch
    cut short by a stop has no validation and is not counted.
    """

    def __init__(self, scheduler: lr_scheduler.ReduceLROnPlateau, monitor: str = "val_loss"):
        self.scheduler = scheduler
        self.monitor = monitor

    def on_epoch_end(self, state: TrainState) -> None:
        value = state.history[-1].get(self.monitor) if state.history else None
        if value is not None and math.isfinite(value):
            self.scheduler.step(value)


@dataclass
class Schedule:
    """The scheduler of a run and how it is driven.

    Attributes:
        scheduler: what checkpoints save and the remedy scales (None for ``constant``).
        per_step: the loop steps ``scheduler`` after each optimizer step; if False the
            ``callbacks`` step it (``plateau``).
        callbacks: to add to the run's callbacks, before ``Checkpointing``.
        description: one line for the manifest.
    """

    scheduler: lr_scheduler.LRScheduler | None
    per_step: bool = True
    callbacks: list[Callback] = field(default_factory=list)
    description: str = ""

    @property
    def loop_scheduler(self) -> lr_scheduler.LRScheduler | None:
        """The scheduler to pass to :func:`~trainwell.train.loop.train` (None if per epoch)."""
        return self.scheduler if self.per_step else None


def build_schedule(
    optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int
) -> Schedule:
    """The schedule ``cfg.schedule`` names, sized to ``cfg.max_epochs`` epochs of
    ``steps_per_epoch`` optimizer steps, starting from the optimizer's current LR (which
    is the peak LR for ``warmup_cosine`` and ``one_cycle``).

    Example:
        >>> from trainwell.config import TrainConfig
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        >>> build_schedule(opt, TrainConfig(schedule="step", max_epochs=4), 10).description
        'step decay: x0.1 at epochs 2, 3'
    """
    total = max(1, steps_per_epoch * cfg.max_epochs)
    name = cfg.schedule
    if name == "warmup_cosine":
        warmup = min(total // 2, round(cfg.warmup_epochs * steps_per_epoch))
        return Schedule(
            warmup_cosine(optimizer, total, warmup),
            description=f"linear warmup for {warmup} steps, then cosine decay to 0 at step {total}",
        )
    if name == "one_cycle":
        peak = [float(g["lr"]) for g in optimizer.param_groups]
        return Schedule(
            # torch's defaults, which are Smith's: start at peak/25, end at peak/25/1e4, and
            # cycle momentum (beta1 for Adam) inversely between 0.85 and 0.95.
            lr_scheduler.OneCycleLR(
                optimizer, max_lr=peak, total_steps=total, pct_start=cfg.one_cycle_peak
            ),
            description=f"one-cycle: peak at {cfg.one_cycle_peak:.0%} of {total} steps",
        )
    if name == "step":
        epochs = sorted({max(1, round(f * cfg.max_epochs)) for f in cfg.step_milestones})
        return Schedule(
            lr_scheduler.MultiStepLR(
                optimizer, [e * steps_per_epoch for e in epochs], gamma=cfg.step_gamma
            ),
            description=f"step decay: x{cfg.step_gamma:g} at epochs "
            + ", ".join(str(e) for e in epochs),
        )
    if name == "plateau":
        plateau = lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=cfg.plateau_factor, patience=cfg.plateau_patience
        )
        return Schedule(
            plateau,
            per_step=False,
            callbacks=[PlateauStep(plateau)],
            description=f"reduce on plateau: x{cfg.plateau_factor:g} after "
            f"{cfg.plateau_patience} epochs without a lower validation loss",
        )
    if name == "cosine_restarts":
        cycle = max(1, round(cfg.restart_epochs * steps_per_epoch))
        return Schedule(
            lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=cycle, T_mult=cfg.restart_mult),
            description=f"cosine with warm restarts: first cycle {cycle} steps, "
            f"each next x{cfg.restart_mult}",
        )
    return Schedule(None, description="constant learning rate")
