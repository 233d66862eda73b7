"""A batch size that fits in accelerator memory, and the reason it was chosen (TW-T08-T10).

On CUDA, :func:`fit_batch_to_memory` runs one real training step (forward, backward,
optimizer step, in the run's precision) at the planned batch size and halves the batch until
the step fits, undoing every trial step afterwards. When the batch shrinks, gradient
accumulation grows by the same factor, so the effective batch (what the optimizer sees per
step, and what the learning rate was chosen for) stays the same. On the CPU nothing is
probed: host memory is not what limits in-memory tables, and the reason says so.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from trainwell.errors import RunError
from trainwell.train.checkpoint import atomic_write_bytes
from trainwell.train.precision import Precision
from trainwell.train.range_test import TrainingSnapshot

TryStep = Callable[[int], None]


@dataclass(frozen=True)
class BatchPlan:
    """Micro-batch size, accumulation and why; ``effective`` is their product. ``threads``:
    the CPU threads the steps run on (:mod:`trainwell.train.threads`; None: torch's own)."""

    batch_size: int
    accumulate: int
    reason: str
    threads: int | None = None
    threads_reason: str = ""

    @property
    def effective(self) -> int:
        return self.batch_size * self.accumulate

    def save(self, path: Path) -> None:
        atomic_write_bytes(path, (json.dumps(asdict(self), indent=1) + "\n").encode())

    @classmethod
    def load(cls, path: Path) -> BatchPlan:
        """Read a plan saved by :meth:`save` (a resumed run keeps its batch, whatever the
        memory of the machine it resumes on).

        Raises:
            RunError: the file is damaged.
        """
        try:
            return cls(**json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError) as err:
            raise RunError(f"{str(path)!r} is damaged ({err}); start the run again") from None


def largest_fitting(try_step: TryStep, start: int) -> tuple[int, list[int]]:
    """Halve ``start`` until ``try_step(size)`` runs without a CUDA out-of-memory error.

    Returns:
        The size that fitted and the sizes that did not.

    Raises:
        torch.OutOfMemoryError: not even a batch of one fits.
    """
    size, failed = start, list[int]()
    while True:
        try:
            try_step(size)
            return size, failed
        except torch.OutOfMemoryError:
            failed.append(size)
            if size == 1:
                raise
            size = max(1, size // 2)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()


def fit_batch_to_memory(
    batch_size: int,
    accumulate: int,
    try_step: TryStep,
    device: torch.device,
    why: str,
) -> BatchPlan:
    """Shrink ``batch_size`` to fit memory on CUDA, keeping the effective batch.

    Args:
        batch_size: the batch planned from the data size; ``why`` says how it was chosen.
        accumulate: micro-batches per optimizer step before any shrinking (``train.accumulate``).
        try_step: runs one training step on ``size`` rows; raises ``torch.OutOfMemoryError``
            when it does not fit (see :func:`step_probe`).
        device: probing happens on ``cuda`` only.

    Example:
        >>> fit_batch_to_memory(64, 1, lambda n: None, torch.device("cpu"), "64 rows").batch_size
        64
    """
    if device.type != "cuda":
        return BatchPlan(
            batch_size, accumulate, f"{why}; on the CPU memory is not probed (host RAM is ample)"
        )
    size, failed = largest_fitting(try_step, batch_size)
    if not failed:
        return BatchPlan(batch_size, accumulate, f"{why}; a training step of {size} fits on CUDA")
    factor = batch_size // size
    return BatchPlan(
        size,
        accumulate * factor,
        f"{why}; a step of {failed[0]} ran out of CUDA memory, {size} fits, so "
        f"train.accumulate {accumulate} -> {accumulate * factor} keeps the effective batch "
        f"of {batch_size * accumulate}",
    )


def step_probe(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    inputs: tuple[torch.Tensor, ...],
    target: torch.Tensor,
    precision: Precision,
) -> TryStep:
    """A ``try_step`` that trains one real step on the first ``size`` rows, then undoes it.

    The optimizer step is part of the trial because it allocates the optimizer's state
    (two tensors per parameter for AdamW), which a forward and backward alone would miss.
    """
    device = next(model.parameters()).device

    def try_step(size: int) -> None:
        saved = TrainingSnapshot(model, optimizer)
        trial = Precision(precision.mode, precision.device_type)
        try:
            model.train()
            batch = tuple(x[:size].to(device) for x in inputs)
            with trial.autocast():
                loss = loss_fn(model(*batch), target[:size].to(device))
            trial.backward(loss)
            trial.step(optimizer)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
        finally:
            optimizer.zero_grad(set_to_none=True)
            saved.restore()

    return try_step
