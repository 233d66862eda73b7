"""The doctor as a Lightning callback.

Example::

    from trainwell.integrations.lightning import DoctorCallback
    doctor = DoctorCallback()
    Trainer(callbacks=[doctor]).fit(model, datamodule)
    doctor.findings
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from trainwell.doctor.thresholds import Thresholds
from trainwell.findings import Finding
from trainwell.integrations._attach import Attachment, innermost, require

_pl = require("lightning.pytorch", '"trainwell[lightning]"')


class DoctorCallback(_pl.Callback):  # type: ignore[name-defined]
    """Watch a Lightning fit: gradients, updates and activations through the doctor's probes,
    the training loss from ``on_before_backward``, validation loss from ``callback_metrics``.

    Gradients are read in ``on_before_optimizer_step``, which Lightning calls once per
    optimizer step after the closure's backward of the last accumulated micro-batch and before
    it clips (``gradient_clip_val``): the whole, unclipped gradient. The loss Lightning hands
    to ``on_before_backward`` is divided by ``accumulate_grad_batches`` (automatic
    optimization); the doctor sees it multiplied back, averaged over the micro-batches.

    Args:
        monitor: the logged validation metric holding the validation loss.
        thresholds: decision thresholds; tuned defaults when ``None``.
        on_finding: called with each finding as it is made.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        thresholds: Thresholds | None = None,
        on_finding: Callable[[Finding], None] | None = None,
    ) -> None:
        super().__init__()
        self.monitor = monitor
        self.thresholds = thresholds
        self.on_finding = on_finding
        self._attached: Attachment | None = None
        self._findings: list[Finding] = []
        self._losses: list[float] = []  # this optimizer step's micro-batch losses

    @property
    def findings(self) -> list[Finding]:
        return self._attached.doctor.findings if self._attached else self._findings

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        self._attached = Attachment(
            pl_module, trainer.optimizers[0], self.thresholds, self.on_finding
        )

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        if self._attached:
            self._attached.doctor.epoch = trainer.current_epoch

    def on_before_backward(self, trainer: Any, pl_module: Any, loss: Any) -> None:
        if self._attached:
            # Lightning's automatic optimization divides by the factor before backward
            # (loops/optimization/automatic.py, ClosureResult.from_training_step_output).
            factor = trainer.accumulate_grad_batches if pl_module.automatic_optimization else 1
            self._losses.append(float(loss.detach()) * factor)

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        attached = self._attached
        if attached is None or innermost(optimizer) is not attached.optimizer:
            return
        if self._losses:
            attached.doctor.log_loss(statistics.fmean(self._losses))
            self._losses = []
        attached.optimizer_probe.gradients_ready()

    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if self._attached and value is not None and not trainer.sanity_checking:
            self._attached.doctor.log_validation(float(value), epoch=trainer.current_epoch)

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        if self._attached:
            self._attached.detach()
            self._findings = self._attached.doctor.finish(
                max_epochs=trainer.max_epochs, stopped=trainer.should_stop
            )
            self._attached = None
