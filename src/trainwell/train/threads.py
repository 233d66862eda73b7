"""CPU threads for a training run: as many as its steps' work and the machine's free cores
justify (TW-T07, the hardware half of "a batch fit for the hardware").

torch runs each operation on all cores by default. For a small step (a narrow MLP on a batch
of a few dozen rows) splitting every matrix product across threads costs more than it saves,
and on a busy machine it is far worse: OpenMP threads wait at a barrier for a sibling the
operating system has descheduled, and a step can take ten times as long as on one thread
(``benchmarks/fit_speed.py``). So a step below :data:`SMALL_STEP_FLOPS` runs on one thread,
and a larger one on torch's thread count. The count never follows the load average: sums
split across a different number of threads round differently, so a count read off the load
would make a run's numbers depend on what else the machine was doing (TW-R01: the same
seed gives the same run; ``lr-find`` must see the weights ``fit`` sees). The choice is
recorded with the batch plan, so ``--resume`` trains on the same thread count.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

# Below this many floating-point operations per training step (forward and backward), one
# thread is faster than several. Parallel regions of PyTorch's CPU kernels cost some
# microseconds each to start and join; a step of 1e8 FLOPs is ~5 ms on one core, where the
# dozens of regions a step opens start to be paid back.
SMALL_STEP_FLOPS = 1e8


def step_flops(net: torch.nn.Module, inputs: tuple[torch.Tensor, ...], batch_size: int) -> float:
    """Floating-point operations of one training step of ``batch_size`` examples: the forward
    pass of one example counted by ``torch.utils.flop_counter`` (matrix products and
    convolutions), times three for the backward pass, times the batch."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = net.training
    net.eval()
    device = next(net.parameters()).device
    counter = FlopCounterMode(display=False)
    try:
        with torch.no_grad(), counter:
            net(*(x[:1].to(device) for x in inputs))
    finally:
        net.train(was_training)
    return 3.0 * counter.get_total_flops() * batch_size


def free_cores(cores: int | None = None, load: float | None = None) -> int:
    """The cores this process can use without waiting for others: ``cores`` minus the load
    average of the last minute (this process's own share of it excluded), at least one."""
    cores = cores if cores is not None else len(os.sched_getaffinity(0))
    load = load if load is not None else os.getloadavg()[0]
    others = max(0.0, load - 1.0)  # this process is running: one unit of the load is ours
    return max(1, math.floor(cores - others + 0.5))


def choose_threads(
    flops: float, device: torch.device, available: int | None = None, free: int | None = None
) -> tuple[int, str]:
    """The intra-op thread count for training steps of ``flops`` FLOPs, and why.

    Args:
        flops: one training step's FLOPs (:func:`step_flops`).
        device: on CUDA the threads only feed the GPU: torch's default is kept.
        available: torch's thread count (``torch.get_num_threads()`` if None).
        free: cores to stay within (``available`` if None; :func:`free_cores` measures
            them, for a caller that prefers speed on a busy machine to repeatable sums).

    Example:
        >>> choose_threads(1e6, torch.device("cpu"), available=8, free=8)[0]
        1
        >>> choose_threads(1e10, torch.device("cpu"), available=8, free=3)[0]
        3
    """
    available = available if available is not None else torch.get_num_threads()
    if device.type != "cpu":
        return available, f"{available} (torch's default; the steps run on {device.type})"
    if flops < SMALL_STEP_FLOPS:
        return 1, (
            f"1: a step of {flops:.2g} FLOPs is too small to gain from splitting it across threads"
        )
    threads = max(1, min(available, free if free is not None else available))
    return threads, f"{threads}: a step of {flops:.2g} FLOPs, on {threads} of {available} threads"


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block on ``threads`` intra-op threads (None: unchanged), restored after."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# LightGBM's guidance: "do not set [num_threads] too large if your dataset is small (for
# instance, do not use 64 threads for a dataset with 10,000 rows)"; below a million cells a
# tree's histograms are built faster on one thread.
SMALL_TABLE_CELLS = 1_000_000


def table_threads(cells: int) -> int:
    """Threads for a gradient-boosting baseline on ``cells`` (rows x columns) values: one for
    a small table, else torch's thread count (not the load's: see the module docstring)."""
    if cells < SMALL_TABLE_CELLS:
        return 1
    return torch.get_num_threads()
