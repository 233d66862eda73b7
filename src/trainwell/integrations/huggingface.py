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

import torch

from trainwell.doctor.thresholds import Thresholds
from trainwell.findings import Finding
from trainwell.integrations._attach import Attachment, require

_transformers = require("transformers", '"trainwell[huggingface]"')


class DoctorCallback(_transformers.TrainerCallback):  # type: ignore[name-defined]
    """Watch a ``transformers.Trainer`` run through the doctor's probes.

    The training loss is seen however the model computes it: an ``nn.*Loss`` module, a
    ``torch.nn.functional`` loss, or the model's own ``outputs.loss`` (the scalar the Trainer
    back-propagates); ``eval_loss`` from each evaluation is the validation loss.

    The Trainer clips gradients (``max_grad_norm``, 1.0 by default) before any callback
    event of the optimizer step, and keeps the pre-clip norm to itself. So on the steps the
    doctor reads gradients, each parameter's gradient norm is taken by a
    ``register_post_accumulate_grad_hook`` after every backward of the step: after the last
    accumulated micro-batch it is the whole, unclipped norm (the local one under DDP).

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
        self._clips = False
        self._tap: _PreClipNorms | None = None
        self._scaler: Any = None

    @property
    def findings(self) -> list[Finding]:
        return self._attached.doctor.findings if self._attached else self._findings

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        model, optimizer = kwargs.get("model"), kwargs.get("optimizer")
        if model is not None and optimizer is not None:
            self._attached = Attachment(model, optimizer, self.thresholds, self.on_finding)
            self._clips = bool(args.max_grad_norm and args.max_grad_norm > 0)
            self._scaler = getattr(optimizer, "scaler", None)  # accelerate's fp16 GradScaler

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        attached = self._attached
        if attached and self._clips and attached.doctor.wants_gradients():
            self._tap = _PreClipNorms(attached.optimizer_probe.params(attached.optimizer))

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        attached, tap, self._tap = self._attached, self._tap, None
        if attached is None:
            return
        if not self._clips:
            attached.optimizer_probe.gradients_ready()  # .grad is the whole, unclipped one
        elif tap is not None:
            tap.remove()
            scale = float(self._scaler.get_scale()) if self._scaler is not None else 1.0
            attached.optimizer_probe.gradients_ready(tap.values(scale))

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._attached and state.epoch is not None:
            self._attached.doctor.epoch = int(state.epoch)

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        metrics = kwargs.get("metrics") or {}
        if self._attached and "eval_loss" in metrics:
            self._attached.doctor.log_validation(float(metrics["eval_loss"]))

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._tap is not None:
            self._tap.remove()
            self._tap = None
        if self._attached:
            self._attached.detach()
            self._findings = self._attached.doctor.finish(max_epochs=int(args.num_train_epochs))
            self._attached = None


class _PreClipNorms:
    """Each parameter's gradient norm after every backward pass, until removed.

    PyTorch calls a post-accumulate-grad hook once the backward pass has added to
    ``param.grad``, so the last value kept is the norm of the gradient accumulated over all
    micro-batches, before the Trainer clips it. Norms stay tensors (no device sync) until
    :meth:`values`.
    """

    def __init__(self, params: list[torch.Tensor]) -> None:
        self._norms: dict[int, torch.Tensor] = {}
        self._handles = [
            p.register_post_accumulate_grad_hook(self._hook) for p in params if p.requires_grad
        ]

    def _hook(self, param: torch.Tensor) -> None:
        if param.grad is not None:
            with torch.no_grad():
                self._norms[id(param)] = torch.linalg.vector_norm(param.grad)

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def values(self, scale: float = 1.0) -> dict[int, float]:
        """The norms by ``id(param)``, divided by a loss scale (fp16 training)."""
        if not self._norms:
            return {}
        norms = list(self._norms.values())
        device = norms[0].device
        stacked = torch.stack([n.to(device, torch.float32) for n in norms]) / scale
        return dict(zip(self._norms, stacked.tolist(), strict=True))
