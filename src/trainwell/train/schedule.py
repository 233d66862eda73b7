"""Learning-rate schedules (TW-T03), chosen by ``train.schedule``.

=================  ===========================================================================
``warmup_cosine``  linear warmup over ``train.schedule.warmup_epochs``, then cosine decay to zero
                   over ``train.max_epochs``, compressed to end where early stopping would
                   stop (the default; see below)
``one_cycle``      Smith's one-cycle policy: up to the LR at ``train.schedule.peak`` of
                   training, then down to 1/10,000 of the start (``OneCycleLR``)
``step``           multiply the LR by ``train.schedule.gamma`` at each of
                   ``train.schedule.milestones`` (fractions of ``train.max_epochs``)
                   (``MultiStepLR``)
``plateau``        multiply the LR by ``train.schedule.factor`` when the validation loss has not
                   improved for ``train.schedule.patience`` epochs (``ReduceLROnPlateau``)
``cosine_restarts``  cosine decay restarted after ``train.schedule.cycle_epochs`` epochs, each cycle
                   ``train.schedule.cycle_mult`` times longer (``CosineAnnealingWarmRestarts``)
``constant``       no schedule
=================  ===========================================================================

The decay is sized to the run that happens (TW-T03 with T04). ``train.max_epochs`` is an upper
bound, and early stopping usually ends a run long before it (13-48 of 100 epochs on the
demo tables), which left a cosine laid over 100 epochs at ~89% of its peak: the run never
annealed. So once the validation loss has not improved for half of ``train.patience`` epochs,
:class:`AnnealBeforeStop` lays the rest of the cosine, from the current LR down to zero, over
the epochs early stopping has left; the run then ends when the LR reaches zero, whether or
not the annealing improved the validation loss (its best weights are restored either way).
Lowering the LR at a plateau is what reduce-on-plateau and snapshot schedules do too; here
the curve stays one smooth cosine, and the re-plan is saved in checkpoints.

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


class WarmupCosine:
    """The LR factor of step ``step``: linear warmup, cosine decay, and an optional re-plan.

    A callable object rather than a closure because ``LambdaLR.state_dict`` saves the
    ``__dict__`` of such objects: a compressed decay (``anneal_*``) is then restored by
    ``--resume`` with the rest of the scheduler (plain numbers, so ``weights_only`` loads).
    """

    def __init__(self, total_steps: int, warmup_steps: int, final_fraction: float = 0.0):
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps
        self.final_fraction = final_fraction
        self.anneal_start = -1  # step the compressed decay starts at; -1: not compressed
        self.anneal_end = -1
        self.anneal_from = 1.0  # the factor at anneal_start

    @property
    def annealing(self) -> bool:
        return self.anneal_start >= 0

    def _cosine(self, start: float, progress: float) -> float:
        final = self.final_fraction
        return final + (start - final) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    def __call__(self, step: int) -> float:
        if self.anneal_start >= 0 and step >= self.anneal_start:  # annealing, inlined: per step
            span = max(1, self.anneal_end - self.anneal_start)
            return self._cosine(self.anneal_from, (step - self.anneal_start) / span)
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        span = max(1, self.total_steps - self.warmup_steps)
        return self._cosine(1.0, (step - self.warmup_steps) / span)

    def compress(self, step: int, end_step: int) -> bool:
        """Lay the rest of the decay, from the factor at ``step``, over ``step..end_step``.

        Returns:
            False (and changes nothing) when already compressed or when the planned decay
            ends by ``end_step`` anyway.
        """
        if self.annealing or end_step >= self.total_steps:
            return False
        self.anneal_from = self(step)
        self.anneal_start, self.anneal_end = step, max(step + 1, end_step)
        return True


def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup_steps: int,
    final_fraction: float = 0.0,
) -> lr_scheduler.LambdaLR:
    """Linear warmup over ``warmup_steps``, then cosine decay to ``final_fraction`` of the LR
    at ``total_steps`` (stepped once per optimizer step); its ``lr_lambdas[0]`` is the
    :class:`WarmupCosine` that :class:`AnnealBeforeStop` may compress.

    One ``LambdaLR`` rather than ``SequentialLR(LinearLR, CosineAnnealingLR)``: the same
    curve with one flat, resumable state and one ``base_lrs`` for the remedy to scale.
    """
    return lr_scheduler.LambdaLR(optimizer, WarmupCosine(total_steps, warmup_steps, final_fraction))


def epochs_without_improvement(
    history: list[dict[str, float]], monitor: str = "val_loss", min_delta: float = 1e-4
) -> int:
    """Epochs since ``monitor`` last improved, by the rule of ``EarlyStopping``."""
    best, wait = math.inf, 0
    for record in history:
        value = record.get(monitor)
        if value is None or not math.isfinite(value):
            continue
        if value < best - min_delta * abs(best if math.isfinite(best) else 0):
            best, wait = value, 0
        else:
            wait += 1
    return wait


class AnnealBeforeStop(Callback):
    """Finish the cosine decay within the epochs early stopping has left (TW-T03, T04).

    When the validation loss has gone ``patience - anneal_epochs`` epochs without improving,
    the remaining decay is compressed to end after the ``anneal_epochs`` left before early
    stopping would stop; when the compressed decay has ended, training stops (the LR is at
    its end: more epochs cannot change the weights much). Put it after ``EarlyStopping``.
    """

    def __init__(
        self, plan: WarmupCosine, patience: int, steps_per_epoch: int, monitor: str = "val_loss"
    ) -> None:
        self.plan = plan
        self.patience = patience
        self.anneal_epochs = max(1, patience // 2)
        self.steps_per_epoch = steps_per_epoch
        self.monitor = monitor

    def on_epoch_end(self, state: TrainState) -> None:
        if state.stop:
            return
        if self.plan.annealing:
            if state.step >= self.plan.anneal_end:
                state.stop = True
                state.stop_reason = (
                    "the learning rate reached the end of its schedule (the decay was "
                    f"compressed from step {self.plan.anneal_start} to {self.plan.anneal_end}, "
                    "where early stopping would have stopped)"
                )
            return
        wait = epochs_without_improvement(state.history, self.monitor)
        if wait >= max(1, self.patience - self.anneal_epochs):
            left = self.patience - wait
            if self.plan.compress(state.step, state.step + left * self.steps_per_epoch):
                state.extras["anneal"] = {
                    "start_step": self.plan.anneal_start,
                    "end_step": self.plan.anneal_end,
                    "from_factor": round(self.plan.anneal_from, 6),
                }


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
    # Imported here: the doctor loads this module into user scripts without the config layer.
    from trainwell.config import (
        CosineRestartsOptions,
        OneCycleOptions,
        PlateauOptions,
        StepOptions,
        WarmupCosineOptions,
    )

    total = max(1, steps_per_epoch * cfg.max_epochs)
    chosen = cfg.schedule
    if isinstance(chosen, WarmupCosineOptions):
        warmup = min(total // 2, round(chosen.warmup_epochs * steps_per_epoch))
        scheduler = warmup_cosine(optimizer, total, warmup)
        plan = scheduler.lr_lambdas[0]
        assert isinstance(plan, WarmupCosine)
        anneal = AnnealBeforeStop(plan, cfg.patience, steps_per_epoch)
        return Schedule(
            scheduler,
            callbacks=[anneal],
            description=f"linear warmup for {warmup} steps, then cosine decay to 0 at step "
            f"{total} (train.max_epochs), compressed to end where early stopping would stop "
            f"once the validation loss has not improved for "
            f"{max(1, cfg.patience - anneal.anneal_epochs)} epochs (TW-T03, T04)",
        )
    if isinstance(chosen, OneCycleOptions):
        peak = [float(g["lr"]) for g in optimizer.param_groups]
        return Schedule(
            # torch's defaults, which are Smith's: start at peak/25, end at peak/25/1e4, and
            # cycle momentum (beta1 for Adam) inversely between 0.85 and 0.95.
            lr_scheduler.OneCycleLR(
                optimizer, max_lr=peak, total_steps=total, pct_start=chosen.peak
            ),
            description=f"one-cycle: peak at {chosen.peak:.0%} of {total} steps",
        )
    if isinstance(chosen, StepOptions):
        epochs = sorted({max(1, round(f * cfg.max_epochs)) for f in chosen.milestones})
        return Schedule(
            lr_scheduler.MultiStepLR(
                optimizer, [e * steps_per_epoch for e in epochs], gamma=chosen.gamma
            ),
            description=f"step decay: x{chosen.gamma:g} at epochs "
            + ", ".join(str(e) for e in epochs),
        )
    if isinstance(chosen, PlateauOptions):
        plateau = lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=chosen.factor, patience=chosen.patience
        )
        return Schedule(
            plateau,
            per_step=False,
            callbacks=[PlateauStep(plateau)],
            description=f"reduce on plateau: x{chosen.factor:g} after "
            f"{chosen.patience} epochs without a lower validation loss",
        )
    if isinstance(chosen, CosineRestartsOptions):
        cycle = max(1, round(chosen.cycle_epochs * steps_per_epoch))
        return Schedule(
            lr_scheduler.CosineAnnealingWarmRestarts(
                optimizer, T_0=cycle, T_mult=chosen.cycle_mult
            ),
            description=f"cosine with warm restarts: first cycle {cycle} steps, "
            f"each next x{chosen.cycle_mult}",
        )
    return Schedule(None, description="constant learning rate")
