"""``doctor.watch``: attach the doctor to a hand-written training loop."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # loaded on call: ``import trainwell.doctor`` must not load torch
    import torch

    from trainwell.doctor.amp_probe import ScaledClipProbe
    from trainwell.doctor.doctor import Doctor
    from trainwell.doctor.loss_probe import LossProbe
    from trainwell.doctor.manual_steps import ManualStepProbe
    from trainwell.doctor.probes import ForwardProbe, OptimizerProbe
    from trainwell.doctor.thresholds import Thresholds
    from trainwell.findings import Finding


@contextmanager
def watch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    loss_fn: Callable[..., Any] | None = None,
    *,
    thresholds: Thresholds | None = None,
    on_finding: Callable[[Finding], None] | None = None,
) -> Iterator[Doctor]:
    """Watch a training loop; the hooks come off when the block ends.

    Losses computed with a ``torch.nn`` loss module (``nn.CrossEntropyLoss()`` ...) are seen
    automatically; for a functional loss call ``dr.log_loss(loss)`` each step. Validation is
    invisible to hooks unless it uses a loss module under ``torch.no_grad()``; report it with
    ``dr.log_validation(val_loss, epoch=...)``.

    Args:
        model: the model being trained (its modules are watched, nothing else).
        optimizer: the optimizer that steps it; ``None`` for a loop that updates the weights
            by hand (``p.data.add_(p.grad, alpha=-lr)``): a step is then one training
            ``.backward()`` (:mod:`trainwell.doctor.manual_steps`), and the checks that need
            the LR's value (``lr-too-high``, the schedule and weight-decay checks) stay silent.
        loss_fn: the loss, if it is a module (watched even when not inside ``model``).
        thresholds: decision thresholds; the defaults are tuned on ``benchmarks/doctor``.
        on_finding: called with each finding as it is made.

    Example:
        >>> import torch
        >>> from trainwell import doctor
        >>> model = torch.nn.Linear(4, 3)
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
        >>> with doctor.watch(model, opt) as dr:
        ...     for _ in range(3):
        ...         opt.zero_grad()
        ...         torch.nn.CrossEntropyLoss()(model(x), y).backward()
        ...         opt.step()
        >>> dr.step, dr.findings
        (3, [])
    """
    from trainwell.doctor.amp_probe import ScaledClipProbe
    from trainwell.doctor.doctor import Doctor
    from trainwell.doctor.loss_probe import LossProbe
    from trainwell.doctor.manual_steps import ManualStepProbe
    from trainwell.doctor.probes import ForwardProbe, OptimizerProbe

    del loss_fn  # loss modules are recognized by type wherever they are
    dr = Doctor(thresholds, on_finding, roots=[model])
    modules = {id(m) for m in model.modules()}
    # A hand-written update's steps end in the manual-step probe, which must come off
    # first: removing it ends the loop's last step.
    stepper = (
        ManualStepProbe(dr).attach()
        if optimizer is None
        else OptimizerProbe(dr, optimizer).attach()
    )
    probes: list[ManualStepProbe | ForwardProbe | OptimizerProbe | LossProbe | ScaledClipProbe] = [
        stepper,
        ForwardProbe(dr, modules).attach(),
        LossProbe(dr).attach(),
        ScaledClipProbe(dr).attach(),
    ]
    try:
        yield dr
    finally:
        for probe in probes:
            probe.remove()
        dr.finish()
