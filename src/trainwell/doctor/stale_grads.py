"""Gradients never reset between optimizer steps: a forgotten ``optimizer.zero_grad()``.

``loss.backward()`` adds into ``.grad``; unless something resets it (``optimizer.zero_grad()``,
``model.zero_grad()``, ``p.grad = None``), every step's gradient is the sum of all the batches
so far. With SGD and momentum the loss then climbs to huge values and the curve checks would
blame the learning rate; with Adam the run just trains badly. This check finds the fault
itself, from the hooks the doctor already has:

* after the watched optimizer's step (:class:`~.probes.OptimizerProbe` post-hook), a few
  elements of a few parameters' gradients are copied (a fingerprint: some floats);
* before the next training backward (:class:`~.loss_probe.LossProbe`), the same gradient
  tensors still holding exactly those values mean nothing reset them since the step, and the
  backward adds to them;
* a reset seen before a later backward or before the next step (a gradient that is ``None``,
  another tensor, or all zeros at the sampled elements) clears that: a GAN's generator
  backward runs through the discriminator whose gradients are zeroed before its own step.

A window that ends in the optimizer's next step with no reset seen counts as one step whose
gradients carried the previous step's. Only the first few steps are watched (one window
each), so the run pays nothing after them. Gradient accumulation (K backward passes, a step,
then ``zero_grad``) resets before its next backward and stays silent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from trainwell.findings import Finding

if TYPE_CHECKING:
    from trainwell.doctor.doctor import Doctor

#: Windows (one per optimizer step) watched before the check stops for good.
_WINDOWS = 4
#: Windows in a row whose gradients carried the previous step's before a finding.
_STALE_NEEDED = 3
#: Parameters sampled per window and elements sampled per parameter.
_PARAMS = 4
_ELEMENTS = 8

_IDLE, _ARMED, _STALE = 0, 1, 2


class StaleGradCheck:
    """Finds gradients carried over from one optimizer step into the next.

    Args:
        doctor: receives the finding (:meth:`Doctor.emit`).
    """

    def __init__(self, doctor: Doctor) -> None:
        self.doctor = doctor
        self.done = False  # no more windows: the hooks return at once
        self._state = _IDLE
        self._windows = 0
        self._stale = 0  # windows in a row that ended stale
        # (parameter, its gradient tensor after the step, the sampled indices, their values)
        self._prints: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def after_step(self, params: list[torch.Tensor]) -> None:
        """The watched optimizer stepped: end the open window, open the next one."""
        if self._state == _STALE:
            self._stale += 1
            if self._stale >= _STALE_NEEDED:
                self._emit()
                self._finish()
                return
        elif self._state == _ARMED:
            pass  # no backward came since the last step (a closure runs it inside step())
        elif self._windows:
            self._stale = 0  # a window ended clean
        if self._windows >= _WINDOWS:
            self._finish()
            return
        self._prints = _fingerprints(params)
        self._state = _ARMED if self._prints else _IDLE
        if self._prints:
            self._windows += 1

    def before_step(self) -> None:
        """The watched optimizer is about to step: a reset since the stale backward clears it."""
        if self._state == _STALE and self._reset_seen():
            self._state = _IDLE

    def before_backward(self) -> None:
        """A training backward is about to add into the gradients."""
        if self._state == _ARMED:
            self._state = _STALE if self._untouched() else _IDLE
        elif self._state == _STALE and self._reset_seen():
            self._state = _IDLE

    def _untouched(self) -> bool:
        """Every sampled gradient is the same tensor with the values it had after the step."""
        for p, grad, idx, values in self._prints:
            if p.grad is not grad or not torch.equal(grad.detach().reshape(-1)[idx], values):
                return False
        return True

    def _reset_seen(self) -> bool:
        """Some sampled gradient was set to ``None``, replaced, or zeroed."""
        for p, grad, idx, _ in self._prints:
            if p.grad is not grad or not bool(grad.detach().reshape(-1)[idx].any()):
                return True
        return False

    def _finish(self) -> None:
        self.done = True
        self._state = _IDLE
        self._prints = []

    def _emit(self) -> None:
        steps = self._stale
        first = self.doctor.step - steps + 1  # the first step whose gradients were carried over
        self.doctor.emit(
            Finding(
                id="gradients-not-reset",
                practice="TW-T08",
                severity="error",
                stage="train",
                step=self.doctor.step,
                message=f"The gradients are never reset between optimizer steps: at each of "
                f"{steps} steps in a row (from step {first}), .grad still held the previous "
                "step's values when the next backward() added to them, so step "
                f"{self.doctor.step} used the gradients summed over at least {steps + 1} "
                "batches (every batch since zero_grad() was last called). They grow step "
                "after step: the loss diverges or training stalls, whatever the learning "
                "rate (a lower LR only hides this).",
                evidence={"steps_carried_over": steps, "first_step": first},
                fix="Call optimizer.zero_grad() once per step (before loss.backward(), or "
                "after optimizer.step()); when accumulating gradients on purpose over K "
                "micro-batches, call it after every K-th backward's optimizer.step().",
            )
        )


def _fingerprints(
    params: list[torch.Tensor],
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """A few elements of a few parameters' gradients (spread over the model), each sampled
    where it is non-zero; parameters whose sample is all zeros are left out (a dead unit's
    row, an embedding row no batch used): zeros cannot tell a kept gradient from a reset."""
    with_grad = [
        p
        for p in params
        if p.grad is not None and p.grad.layout is torch.strided and p.grad.numel() > 0
    ]
    if not with_grad:
        return []
    count = min(_PARAMS, len(with_grad))
    picks = [with_grad[(i * (len(with_grad) - 1)) // max(count - 1, 1)] for i in range(count)]
    prints = []
    for p in dict.fromkeys(picks):  # ordered, without repeats
        grad = p.grad
        assert grad is not None
        flat = grad.detach().reshape(-1)
        n = flat.numel()
        idx = torch.linspace(0, n - 1, min(_ELEMENTS, n), device=flat.device).long()
        values = flat[idx]  # advanced indexing: a copy
        if bool(values.any()) and bool(torch.isfinite(values).all()):
            prints.append((p, grad, idx, values))
    return prints
