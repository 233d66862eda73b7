"""The doctor inside trainwell's own training loop (``trainwell fit``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from trainwell.doctor.doctor import Doctor
from trainwell.doctor.plan import TrainingPlan
from trainwell.doctor.probes import ForwardProbe, OptimizerProbe
from trainwell.doctor.thresholds import Thresholds
from trainwell.findings import Finding
from trainwell.train.callback import Callback
from trainwell.train.state import TrainState


class DoctorCallback(Callback):
    """Attach the doctor for the length of a fit; findings end in :attr:`findings`.

    The loop's step, epoch, loss and per-epoch ``history`` (``train_loss``, ``val_loss``)
    are fed to the doctor; the probes read gradients and updates from the optimizer's own
    hooks. For the remedy the loop calls :meth:`needs_remedy` after each step.

    Args:
        thresholds: decision thresholds; tuned defaults when ``None``.
        on_finding: called with each finding as it is made (progress display, logging).
        val_key: the ``history`` key holding the validation loss.
        plan: the trainer's plan (planned freezing, the split and what the audit verified),
            so the doctor does not report planned choices as faults (:mod:`.plan`).

    Example:
        >>> cb = DoctorCallback()
        >>> cb.findings
        []
    """

    def __init__(
        self,
        thresholds: Thresholds | None = None,
        on_finding: Callable[[Finding], None] | None = None,
        val_key: str = "val_loss",
        plan: TrainingPlan | None = None,
    ) -> None:
        self.thresholds = thresholds
        self.plan = plan
        self.on_finding = on_finding
        self.val_key = val_key
        self.doctor: Doctor | None = None
        self._probes: list[ForwardProbe | OptimizerProbe] = []
        self._forward: ForwardProbe | None = None
        self._restored: list[Finding] = []
        self._saved: dict[str, Any] | None = None  # the doctor's state from a checkpoint

    @property
    def findings(self) -> list[Finding]:
        found = self.doctor.findings if self.doctor is not None else []
        return [*self._restored, *found]

    def on_fit_start(self, state: TrainState) -> None:
        dr = Doctor(
            self.thresholds,
            self.on_finding,
            roots=[state.model],
            infer_validation=False,
            plan=self.plan,
            # The loop is trainwell's own: it keeps no loss with its graph, so the heap walk
            # that looks for one (~80 ms each, at several steps) would find nothing.
            scan_graphs=False,
        )
        dr.step, dr.epoch = state.step, state.epoch
        if self._saved is not None:  # resumed: continue the checks where they were
            dr.load_state_dict(self._saved)
            dr.step, dr.epoch = state.step, state.epoch
            self._restored, self._saved = [], None
        modules = {id(m) for m in state.model.modules()}
        self._forward = ForwardProbe(dr, modules).attach()
        self._probes = [self._forward, OptimizerProbe(dr, state.optimizer).attach()]
        self.doctor = dr

    def on_epoch_start(self, state: TrainState) -> None:
        if self.doctor is not None:
            self.doctor.epoch = state.epoch

    def on_before_optimizer_step(self, state: TrainState) -> None:
        if self.doctor is not None:
            # A skipped AMP step never reaches the optimizer hooks: follow the loop's count.
            self.doctor.step = state.step
            if state.loss is not None:
                self.doctor.log_loss(state.loss)
            # The loop's clipping already measured the gradients: a non-finite norm makes the
            # doctor read them this step (its own cadence might skip it). CPU only: on CUDA
            # the check would wait for the GPU.
            norm = state.grad_norm
            if norm is not None and norm.device.type == "cpu" and not math.isfinite(float(norm)):
                self.doctor.read_gradients_now()

    def on_step_end(self, state: TrainState) -> None:
        # The loop hands over each step's loss: the forward passes are watched only on the
        # steps whose checks read them (heavy steps, the first steps, a NaN's trace).
        if self.doctor is not None and self._forward is not None:
            self._forward.set_active(self.doctor.wants_forward)

    def on_epoch_end(self, state: TrainState) -> None:
        if self.doctor is None or not state.history:
            return
        record = state.history[-1]
        if self.val_key in record:
            self.doctor.log_validation(
                record[self.val_key], epoch=state.epoch, train_loss=record.get("train_loss")
            )

    def on_fit_end(self, state: TrainState) -> None:
        self._remove_probes()
        if self.doctor is not None:
            self.doctor.finish(max_epochs=state.max_epochs, stopped=state.stop)

    def on_exception(self, state: TrainState) -> None:
        # A global forward hook left behind would slow every later module call in the
        # process (a notebook's next fit, the next test).
        self._remove_probes()

    def _remove_probes(self) -> None:
        for probe in self._probes:
            probe.remove()
        self._probes, self._forward = [], None

    def needs_remedy(self) -> Finding | None:
        """The NaN / divergence finding the loop should react to, once (see :class:`Doctor`)."""
        return self.doctor.needs_remedy() if self.doctor is not None else None

    def acknowledge_remedy(self, remedy: Finding | None = None) -> None:
        """Tell the doctor the loop restored and adjusted; ``remedy`` is added to findings."""
        if self.doctor is not None:
            self.doctor.acknowledge_remedy()
            if remedy is not None:  # every rescue is recorded (emit keeps one per id)
                self.doctor.findings.append(remedy)
                if self.on_finding is not None:
                    self.on_finding(remedy)

    def state_dict(self) -> dict[str, Any]:
        """The findings and the doctor's running state (:meth:`Doctor.state_dict`), so a
        resumed run raises the findings the uninterrupted run would."""
        saved: dict[str, Any] = {"findings": [f.to_dict() for f in self.findings]}
        if self.doctor is not None:
            saved["doctor"] = self.doctor.state_dict()
        return saved

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._restored = [Finding.from_dict(d) for d in state.get("findings", [])]
        self._saved = state.get("doctor")
        if self._saved is not None and self.doctor is not None:  # restored after fit start
            self.doctor.load_state_dict(self._saved)
            self._restored, self._saved = [], None
