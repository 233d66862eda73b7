"""The training loop: short and linear; everything optional is a :class:`Callback`.

With no callbacks, no scheduler, ``accumulate=1`` and fp32, :func:`train` does exactly what a
15-line hand-written PyTorch loop does (a test holds it to identical weights).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from typing import Protocol

import torch

from trainwell.train.callback import Callback
from trainwell.train.precision import Precision
from trainwell.train.state import TrainState

Batch = tuple[tuple[torch.Tensor, ...], torch.Tensor]


class TrainData(Protocol):
    """Batches of one epoch, in that epoch's order (a function of the epoch, so a resumed
    run replays the same order), and how many there are."""

    def epoch(self, epoch: int) -> Iterable[Batch]: ...

    def __len__(self) -> int: ...


def train(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    data: TrainData,
    *,
    max_epochs: int,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    callbacks: Sequence[Callback] = (),
    validate: Callable[[torch.nn.Module], dict[str, float]] | None = None,
    accumulate: int = 1,
    precision: Precision | None = None,
    state: TrainState | None = None,
) -> TrainState:
    """Train ``model`` and return the final :class:`TrainState`.

    Args:
        data: the training batches; ``model(*inputs)`` gives the outputs for ``loss_fn``.
        scheduler: stepped once per optimizer step.
        validate: called after every epoch in eval mode; its dict lands in
            ``state.validation`` and the epoch's ``state.history`` entry.
        accumulate: micro-batches per optimizer step (TW-T08); each micro-batch's loss is
            divided by the number of micro-batches in its step, so k accumulated batches of
            size b give the gradient of one batch of size k·b.
        state: a restored state to continue from (``--resume``).

    Example:
        >>> model = torch.nn.Linear(2, 1)
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> data = InMemoryData((torch.randn(8, 2),), torch.randn(8, 1), batch_size=4)
        >>> train(model, opt, torch.nn.functional.mse_loss, data, max_epochs=2).step
        4
    """
    precision = precision or Precision("fp32")
    if state is None:
        state = TrainState(model, optimizer, scheduler, max_epochs=max_epochs)
    n_batches = len(data)
    # Under DistributedDataParallel the micro-batches before a step's last skip the
    # all-reduce (DDP.no_sync): their gradients add up locally and the last one's backward
    # all-reduces the sum (TW-T08, T14).
    no_sync = getattr(model, "no_sync", None) if accumulate > 1 else None
    synced = nullcontext()  # stateless, so one instance serves every step
    for cb in callbacks:
        cb.on_fit_start(state)
    try:
        while state.epoch < max_epochs and not state.stop:
            model.train()
            optimizer.zero_grad(set_to_none=True)
            state.epoch_loss_sum, state.epoch_batches = 0.0, 0
            for cb in callbacks:
                cb.on_epoch_start(state)
            for i, (inputs, target) in enumerate(data.epoch(state.epoch)):
                state.batch = i
                group_start = i - i % accumulate
                group_size = min(accumulate, n_batches - group_start)
                last = i + 1 - group_start >= group_size
                # DDP decides in forward whether this backward all-reduces (no_sync's flag)
                skip = no_sync() if no_sync is not None and not last else synced
                with skip, precision.autocast():
                    loss = loss_fn(model(*inputs), target)
                # Dividing only when accumulating keeps the plain case free of an extra op.
                precision.backward(loss / group_size if group_size > 1 else loss)
                state.loss = loss.detach()
                state.epoch_loss_sum += state.loss.item()
                state.epoch_batches += 1
                if not last:
                    continue
                precision.unscale(optimizer)
                for cb in callbacks:
                    cb.on_before_optimizer_step(state)
                precision.step(optimizer)
                optimizer.zero_grad(set_to_none=True)
                if scheduler is not None:
                    scheduler.step()
                state.step += 1
                for cb in callbacks:
                    cb.on_step_end(state)
                if state.stop:
                    break
            record = {
                "epoch": float(state.epoch),
                "train_loss": state.epoch_loss_sum / max(1, state.epoch_batches),
            }
            if validate is not None and not state.stop:
                state.validation = validate(model)
                record.update(state.validation)
            state.history.append(record)
            for cb in callbacks:
                cb.on_epoch_end(state)
            state.epoch += 1
    except BaseException:  # an error, Ctrl-C, or SIGTERM made one (trainwell.interrupts)
        for cb in callbacks:
            cb.on_exception(state)
        raise
    for cb in callbacks:
        cb.on_fit_end(state)
    return state


class InMemoryData:
    """Tensors held in memory, reshuffled every epoch (TW-D12) from ``seed + epoch``.

    For tables in memory this beats a ``DataLoader``: indexing a batch at once is one gather,
    where a DataLoader indexes rows one by one and collates them, and worker processes would
    only add copies (TW-T12 applies to data read from disk, such as images).
    """

    def __init__(
        self,
        inputs: tuple[torch.Tensor, ...],
        target: torch.Tensor,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        device: torch.device | None = None,
    ) -> None:
        self.device = device or torch.device("cpu")
        if self.device.type == "cuda":
            # Page-locked host memory makes the per-batch copies asynchronous (TW-T12).
            inputs = tuple(x.pin_memory() for x in inputs)
            target = target.pin_memory()
        self.inputs = inputs
        self.target = target
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed

    def __len__(self) -> int:
        return -(-len(self.target) // self.batch_size)

    def order(self, epoch: int) -> torch.Tensor:
        n = len(self.target)
        if not self.shuffle:
            return torch.arange(n)
        return torch.randperm(n, generator=torch.Generator().manual_seed(self.seed + epoch))

    def epoch(self, epoch: int) -> Iterable[Batch]:
        order = self.order(epoch)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            inputs = tuple(x[rows].to(self.device, non_blocking=True) for x in self.inputs)
            yield inputs, self.target[rows].to(self.device, non_blocking=True)
