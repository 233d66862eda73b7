"""The doctor as a Hugging Face ``Trainer`` callback.

Example::

    from trainwell.integrations.huggingface import DoctorCallback
    doctor = DoctorCallback()
    Trainer(model=model, args=args, train_dataset=ds, callbacks=[doctor]).train()
    doctor.findings
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trainwell.doctor.thresholds import Thresholds
from trainwell.findings import Finding
from trainwell.integrations._attach import Attachment, require

_transformers = require("transformers", '"trainwell[huggingface]"')


class DoctorCallback(_transformers.TrainerCallback):  # type: ignore[name-defined]
    """Watch a ``transformers.Trainer`` run through the doctor's probes.

    Losses computed by ``torch.nn`` loss modules inside the model are seen by the probes;
    ``eval_loss`` from each evaluation is the validation loss.

    Args:
        thresholds: decision thresholds; tuned defaults when ``None``.
        on_finding: called with each finding as it is made.
    """

    def __init__(
        self,
        thresholds: Thresholds | None = None,
        on_finding: Callable[[Finding], None] | None = None,
    ) -> None:
        self.thresholds = thresholds
        self.on_finding = on_finding
        self._attached: Attachment | None = None
        self._findings: list[Finding] = []

    @property
    def findings(self) -> list[Finding]:
        return self._attached.doctor.findings if self._attached else self._findings

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        model, optimizer = kwargs.get("model"), kwargs.get("optimizer")
        if model is not None and optimizer is not None:
            self._attached = Attachment(model, optimizer, self.thresholds, self.on_finding)

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._attached and state.epoch is not None:
            self._attached.doctor.epoch = int(state.epoch)

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        metrics = kwargs.get("metrics") or {}
        if self._attached and "eval_loss" in metrics:
            self._attached.doctor.log_validation(float(metrics["eval_loss"]))

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._attached:
            self._attached.detach()
            self._findings = self._attached.doctor.finish(max_epochs=int(args.num_train_epochs))
            self._attached = None
