"""Steps without an optimizer: a script that updates its weights by hand.

pytorch/examples' ``regression`` (``param.add_(-lr * param.grad)`` under ``no_grad``) and
``word_language_model`` (``p.data.add_(p.grad, alpha=-lr)``) step no optimizer object, so
the optimizer hooks (:class:`~.probes.OptimizerProbe`) never end a step and the per-step
checks (loss curve, gradient norms, update ratios) never run. Here a step is one training
backward:

* after the training loss's ``.backward()`` returns (:attr:`Doctor.after_backward`, called
  by :class:`~.loss_probe.LossProbe`), the gradients are whole and not yet used by the
  script's update or cleared by its next ``zero_grad``: they are read then, on the doctor's
  cadence, and on heavy steps the weights are copied;
* the step ends when the next training loss comes (:attr:`Doctor.step_boundary`), after the
  script's update, or at the end of the run: the update is the change in the weights since
  that copy (exact, not lagged), then :meth:`Doctor.on_step_end`.

Whether a script has an optimizer is known only once it steps, so nothing is handed to the
doctor until a step is confirmed as hand-written: the weights changed between two training
losses while no optimizer stepped (their norms are compared, a few floats; gradient
accumulation leaves them unchanged until its optimizer step). The first step's gradients are
therefore not read. Once any optimizer steps, this probe stays out for good and the
optimizer hooks run as before. There is no learning rate to read: the checks that need one
(``lr-too-high``, the schedule and weight-decay checks) stay silent; the measured update
ratios still feed ``updates-too-large`` and ``lr-too-low``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch.compiler import is_compiling

from trainwell.doctor import stats
from trainwell.doctor.probes import read_gradients

if TYPE_CHECKING:
    from trainwell.doctor.doctor import Doctor

#: Training losses in a row with unchanged weights and no optimizer before this probe gives
#: up (a script that only computes gradients, or accumulates very many micro-batches).
_UNCONFIRMED_LIMIT = 64


class ManualStepProbe:
    """Ends the doctor's steps for a script that updates its weights without an optimizer.

    Args:
        doctor: the doctor whose steps are ended; it must see ``.backward()`` (a
            :class:`~.loss_probe.LossProbe` attached to it).
    """

    def __init__(self, doctor: Doctor) -> None:
        self.doctor = doctor
        self.confirmed = False  # a step was seen updating weights without an optimizer
        self.steps_ended = 0
        self._off = False
        self._pending_step: int | None = None  # the step whose backward ran, not yet ended
        self._params: list[torch.Tensor] = []
        self._norms: list[float] | None = None  # weight norms after that backward (unconfirmed)
        self._before: list[torch.Tensor] | None = None  # weights after that backward (heavy)
        self._unchanged = 0

    def attach(self) -> ManualStepProbe:
        self.doctor.after_backward = self._after_backward
        self.doctor.step_boundary = self._boundary
        return self

    def remove(self) -> None:
        """Detach; a confirmed step still open ends here (the run's last update)."""
        doctor = self.doctor
        if doctor.step_boundary == self._boundary:
            self._boundary(final=True)
            doctor.step_boundary = None
            doctor.after_backward = None

    def _stop(self) -> None:
        """An optimizer steps: its hooks end the steps from now on."""
        self._off = True
        self._pending_step, self._params, self._norms, self._before = None, [], None, None
        if self.doctor.step_boundary == self._boundary:
            self.doctor.step_boundary = None
            self.doctor.after_backward = None

    def _after_backward(self, loss: torch.Tensor) -> None:
        doctor = self.doctor
        if self._off or is_compiling() or not (loss.requires_grad and loss.numel() == 1):
            return
        if doctor._optimizer is not None:
            self._stop()
            return
        if self._pending_step is not None:
            return  # a second backward before the next loss (retain_graph): the same step
        doctor._refresh_names()
        params: list[torch.Tensor] = [p for _, p in doctor.naming.root_params() if p.requires_grad]
        if not params:
            return  # no watched model ran forward: nothing to read
        self._params = params
        self._pending_step = doctor.step
        if not self.confirmed:
            self._norms = stats.norm_values([p.detach() for p in params])
            return
        if doctor.wants_gradients():
            read_gradients(doctor, params)
        if doctor.heavy:
            self._before = [p.detach().clone() for p in params]  # detached: no graph

    def _boundary(self, final: bool = False) -> None:
        """The next training loss is about to be recorded (or the run ends): the script's
        update of the pending step, if any, has run."""
        doctor = self.doctor
        step = self._pending_step
        if step is None or self._off:
            return
        if doctor._optimizer is not None or doctor.step != step:
            self._stop()  # an optimizer stepped in between: it ended the step
            return
        params = self._params
        if not self.confirmed:
            before, self._norms = self._norms, None
            now = stats.norm_values([p.detach() for p in params])
            if before is None or before == now:
                self._pending_step = None
                self._unchanged += 1
                if self._unchanged >= _UNCONFIRMED_LIMIT:
                    self._stop()
                return  # no update yet (accumulation before an optimizer step, or none)
            self.confirmed = True
            # The model's parameters are what the hand-written update steps: count them as
            # "in the optimizer", or every one would be reported missing from it.
            doctor._opt_params.update(id(p) for p in params)
        self._pending_step = None
        before_w, self._before = self._before, None
        if before_w is not None and len(before_w) == len(params):
            now_w = [p.detach() for p in params]
            torch._foreach_sub_(before_w, now_w)
            norms = stats.norm_values([*before_w, *now_w])
            doctor.on_updates(params, norms[: len(now_w)], norms[len(now_w) :])
        self.steps_ended += 1
        doctor.on_step_end(keep_forward=not final)
