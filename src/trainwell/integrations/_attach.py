"""What the framework callbacks share: attach a doctor to a model and optimizer, detach it."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType

import torch

from trainwell.doctor.doctor import Doctor
from trainwell.doctor.loss_probe import LossProbe
from trainwell.doctor.probes import ForwardProbe, OptimizerProbe
from trainwell.doctor.thresholds import Thresholds
from trainwell.errors import TrainwellError
from trainwell.findings import Finding


def require(module: str, install: str) -> ModuleType:
    """Import an optional framework or fail with the command that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise TrainwellError(
            f"this integration needs {module!r}, which is not installed: pip install {install}"
        ) from err


def innermost(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """Unwrap framework optimizer wrappers (accelerate, Lightning) to the torch optimizer."""
    while isinstance(getattr(optimizer, "optimizer", None), torch.optim.Optimizer):
        optimizer = optimizer.optimizer  # type: ignore[attr-defined]
    return optimizer


class Attachment:
    """A doctor with its probes on one model and optimizer.

    The framework's callback calls ``self.optimizer_probe.gradients_ready()`` once per
    optimizer step, at the moment its gradients are whole (every accumulated micro-batch) and
    not yet clipped: inside a framework the optimizer's own step hooks run too early (before
    a closure's backward) or too late (after clipping).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        thresholds: Thresholds | None,
        on_finding: Callable[[Finding], None] | None,
    ) -> None:
        self.doctor = Doctor(thresholds, on_finding, roots=[model], infer_validation=False)
        modules = {id(m) for m in model.modules()}
        self.optimizer = innermost(optimizer)
        self.optimizer_probe = OptimizerProbe(self.doctor, self.optimizer, external=True)
        # The loss probe sees losses no nn.*Loss module computes: F.cross_entropy in a
        # training_step, a Hugging Face model's own outputs.loss (transformers' loss functions
        # call torch.nn.functional), any scalar whose .backward() runs.
        self.probes: list[ForwardProbe | OptimizerProbe | LossProbe] = [
            ForwardProbe(self.doctor, modules).attach(),
            self.optimizer_probe.attach(),
            LossProbe(self.doctor).attach(),
        ]

    def detach(self) -> None:
        for probe in self.probes:
            probe.remove()
        self.probes = []
