"""The learning-rate range test (TW-T02): sweep the LR up, watch the loss, suggest an LR.

Leslie Smith's range test ("Cyclical Learning Rates for Training Neural Networks", 2017), as
fastai's ``lr_find``, Lightning's ``lr_find`` and the ``torch-lr-finder`` package run it:
train for ``steps`` optimizer steps while the learning rate grows exponentially from
``start_lr`` to ``end_lr``, record the training loss at every step, and stop once the loss has
clearly diverged. The sweep trains exactly as fit will (the same batches, accumulation,
precision and gradient clipping), through :func:`trainwell.train.loop.train`.

Afterwards the model's weights and buffers, the optimizer's state and learning rates, the
train/eval mode of every module and the random-number generators are put back exactly as they
were, so training after the test is bit-identical to training that never ran it.

How the suggestion is made (recorded in ``method`` and ``reason``):

* The raw losses are noisy; the curve the suggestion reads is a centred moving average of
  the log-loss. A centred window has no lag, where the exponential moving average fastai and
  Lightning use shifts the whole curve to the right (higher LRs) by about half its memory.
* The curve is read only up to where the smoothed loss first climbs to 1.5x its best so
  far: the first divergence. Past it, Adam with clipping can dip again for a while at large
  LRs on easy problems; those dips are luck, not a range to train in.
* ``valley`` (default, fastai's default since 2021): the valley is the longest decreasing
  subsequence of the smoothed loss, measured back from its last point by its length (so the
  noisy flat start, where the subsequence skips most points, hardly counts); the suggestion
  is the LR half way along it. It is the most stable of the three on small data.
* ``steepest`` (Lightning's and torch-lr-finder's): the LR where the smoothed loss falls
  fastest per decade of LR, searched up to the lowest point of the curve.
* ``minimum``: a tenth of the LR at the lowest smoothed loss (fastai's ``lr_min``).

When the loss never falls (no clear descent), there is no suggestion and the caller keeps
its default.
"""

from __future__ import annotations

import copy
import json
import math
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from trainwell.errors import RunError
from trainwell.train.callback import Callback
from trainwell.train.callbacks.grad_norm import GradientNorm
from trainwell.train.checkpoint import atomic_write_bytes
from trainwell.train.loop import TrainData, train
from trainwell.train.precision import Precision
from trainwell.train.state import TrainState

Method = Literal["valley", "steepest", "minimum"]

START_LR = 1e-7  # fastai's and torch-lr-finder's sweep: 1e-7 to 10 in 100 steps
END_LR = 10.0
STEPS = 100
DIVERGE = 4.0  # stop once the smoothed loss exceeds 4x its best (fastai's stop_div)
EMA_BETA = 0.9  # memory of the running loss the divergence check reads (about 10 steps)
WINDOW = 9  # points in the centred moving average the suggestion reads (~0.7 decade)
MIN_DROP = 0.05  # the smoothed loss must fall by 5% for the test to count as conclusive
RISE = 1.5  # the curve is read up to where the smoothed loss first climbs to 1.5x its best
DEFAULT_LR = 1e-3  # AdamW's usual starting point, when the test is inconclusive (TW-T01)


@dataclass
class RangeTest:
    """One range test: the curve, the suggestion and why. ``to_dict`` is its JSON form.

    ``lrs[i]`` is the learning rate of optimizer step ``i``; ``losses[i]`` that step's
    training loss (mean over its micro-batches), measured before the step's update;
    ``smoothed`` is the curve the suggestion was read from. ``suggestion`` is None when the
    test was inconclusive; ``reason`` says why either way.
    """

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestion: float | None
    method: str
    reason: str
    stopped: str
    start_lr: float = START_LR
    end_lr: float = END_LR
    steps: int = STEPS
    candidates: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, with non-finite losses as None (strict JSON has no NaN)."""
        data = asdict(self)
        for key in ("losses", "smoothed"):
            data[key] = [v if math.isfinite(v) else None for v in data[key]]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RangeTest:
        data = dict(data)
        for key in ("losses", "smoothed"):
            data[key] = [math.nan if v is None else float(v) for v in data[key]]
        return cls(**data)


def lr_range_test(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    data: TrainData,
    *,
    start_lr: float = START_LR,
    end_lr: float = END_LR,
    steps: int = STEPS,
    accumulate: int = 1,
    precision: Precision | None = None,
    clip_grad_norm: float | None = None,
    method: Method = "valley",
) -> RangeTest:
    """Run the range test on ``model`` and ``optimizer`` and restore both afterwards.

    Param groups keep their ratios to the first group (discriminative learning rates stay
    discriminative): the first group's LR sweeps from ``start_lr`` to ``end_lr``.

    Args:
        data: the training batches, as for :func:`~trainwell.train.loop.train`.
        steps: optimizer steps in the full sweep (fewer if the loss diverges first).
        accumulate, precision, clip_grad_norm: as in training, so the curve is that of
            the run the suggestion is for.
        method: ``valley``, ``steepest`` or ``minimum`` (see the module docstring).

    Returns:
        The :class:`RangeTest`; ``suggestion`` is the first group's suggested LR.

    Example:
        >>> from trainwell.train.loop import InMemoryData
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> x = torch.randn(64, 3)
        >>> data = InMemoryData((x,), x @ torch.ones(3, 1), batch_size=8)
        >>> test = lr_range_test(model, opt, torch.nn.functional.mse_loss, data, steps=60)
        >>> 1e-4 < test.suggestion < 1.0
        True
    """
    if steps < 2 or not 0 < start_lr < end_lr:
        raise ValueError("the range test needs steps >= 2 and 0 < start_lr < end_lr")
    saved = TrainingSnapshot(model, optimizer)
    try:
        base = float(optimizer.param_groups[0]["lr"])
        growth = (end_lr / start_lr) ** (1 / (steps - 1))
        # LambdaLR multiplies each group's own LR, so the groups keep their ratios.
        sweep = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda i: start_lr * growth ** min(i, steps - 1) / base
        )
        recorder = _Recorder(steps)
        train(
            model,
            optimizer,
            loss_fn,
            data,
            max_epochs=math.ceil(steps * accumulate / max(1, len(data))) + 1,
            scheduler=sweep,
            callbacks=[GradientNorm(clip_grad_norm), recorder],
            accumulate=accumulate,
            precision=Precision(precision.mode, precision.device_type) if precision else None,
        )
    finally:
        saved.restore()
    result = suggest(recorder.lrs, recorder.losses, method)
    result.stopped = recorder.stopped
    result.start_lr, result.end_lr, result.steps = start_lr, end_lr, steps
    return result


@dataclass(frozen=True)
class LRChoice:
    """The learning rate a run starts from, where it came from and why (for the manifest).

    ``source`` is ``config`` (train.lr was set), ``range test`` (run now), ``recorded`` (the
    range test this run recorded before it was interrupted) or ``default`` (inconclusive).
    """

    lr: float
    source: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def choose_lr(
    configured: float | None,
    run_test: Callable[[], RangeTest],
    record: Path | None = None,
    default: float = DEFAULT_LR,
) -> LRChoice:
    """The starting LR: ``configured`` if set; else the suggestion of the range test in
    ``record`` if that file exists (a resumed run never sweeps again); else ``run_test()``,
    whose curve is then written to ``record`` (JSON, atomically).

    Raises:
        RunError: ``record`` exists but is damaged.
    """
    if configured is not None:
        return LRChoice(configured, "config", f"train.lr={configured:g} set in the config")
    if record is not None and record.is_file():
        try:
            test = RangeTest.from_dict(json.loads(record.read_text()))
        except (json.JSONDecodeError, TypeError) as err:
            raise RunError(f"{str(record)!r} is damaged ({err}); start the run again") from None
        source = "recorded"
    else:
        test = run_test()
        if record is not None:
            atomic_write_bytes(record, (json.dumps(test.to_dict(), indent=1) + "\n").encode())
        source = "range test"
    if test.suggestion is None:
        return LRChoice(default, "default", f"LR range test {test.reason}; using {default:g}")
    return LRChoice(test.suggestion, source, f"LR range test: {test.reason}")


def suggest(lrs: list[float], losses: list[float], method: Method = "valley") -> RangeTest:
    """Read a suggestion off a recorded curve (see the module docstring for the methods)."""
    smoothed = smooth(losses)
    result = RangeTest(list(lrs), list(losses), smoothed, None, method, "", "")
    finite = [i for i, v in enumerate(smoothed) if math.isfinite(v)]
    if len(finite) < WINDOW + 2:
        result.reason = (
            f"inconclusive: only {len(finite)} steps with a finite loss "
            "(the loss diverged almost at once)"
        )
        return result
    log_lr = np.log10(np.asarray(lrs, dtype=np.float64))
    curve = np.asarray(smoothed, dtype=np.float64)
    last = _first_rise(curve[: finite[-1] + 1])
    low = int(np.argmin(curve[: last + 1]))
    first = curve[finite[0]]
    if curve[low] > first * (1 - MIN_DROP):
        result.reason = (
            f"inconclusive: the smoothed loss never fell by {MIN_DROP:.0%} "
            f"(from {first:.4g}, lowest {curve[low]:.4g})"
        )
        return result
    slope = np.gradient(curve[: last + 1], log_lr[: last + 1])
    # Skip the first points: the moving average is one-sided there.
    begin = min(WINDOW // 2, low)
    steepest = begin + int(np.argmin(slope[begin : low + 1]))
    start, end = _valley(curve[: last + 1])
    middle = start + (end - start) // 2
    result.candidates = {
        "valley": float(lrs[middle]),
        "steepest": float(lrs[steepest]),
        "minimum": float(lrs[low]) / 10,
        "lowest_loss_lr": float(lrs[low]),
    }
    if method == "valley":
        result.suggestion = float(lrs[middle])
        result.reason = (
            f"half way along the longest fall of the smoothed loss, from lr={lrs[start]:.2g} "
            f"({curve[start]:.4g}) to lr={lrs[end]:.2g} ({curve[end]:.4g})"
        )
    elif method == "steepest":
        result.suggestion = float(lrs[steepest])
        result.reason = (
            f"steepest descent of the smoothed loss at lr={lrs[steepest]:.2g} "
            f"({-slope[steepest]:.3g} loss per decade); the loss is lowest at "
            f"lr={lrs[low]:.2g}"
        )
    else:
        result.suggestion = float(lrs[low]) / 10
        result.reason = (
            f"a tenth of lr={lrs[low]:.2g}, where the smoothed loss is lowest ({curve[low]:.4g})"
        )
    return result


def _first_rise(curve: np.ndarray) -> int:
    """The last index before the smoothed loss first climbs to ``RISE`` x its best so far.

    Past that point training has started to diverge; a later dip (Adam with clipping can
    recover for a while at large LRs) is luck, not a range to train in.
    """
    best = math.inf
    for i, value in enumerate(curve):
        if value > RISE * best:
            return max(0, i - 1)
        best = min(best, float(value))
    return len(curve) - 1


def _valley(curve: np.ndarray) -> tuple[int, int]:
    """The valley: (end - length, end) of the longest decreasing subsequence of ``curve``."""
    n = len(curve)
    length = np.ones(n, dtype=np.int64)
    for i in range(1, n):
        before = curve[:i] > curve[i]
        if before.any():
            length[i] = int(length[:i][before].max()) + 1
    end = int(np.argmax(length))
    return max(0, end - int(length[end])), end


def smooth(losses: list[float], window: int = WINDOW) -> list[float]:
    """A centred moving average of the losses (on log scale for positive losses).

    Averaging log-losses keeps one diverging step from dominating its neighbours; the
    window shrinks at the ends and stops at the first non-finite loss (NaN after it).
    """
    values = np.asarray(losses, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    n = int(bad[0]) if len(bad) else len(values)
    positive = bool(n) and bool(np.all(values[:n] > 0))
    x = np.log(values[:n]) if positive else values[:n]
    half = window // 2
    out = np.full(len(values), np.nan)
    for i in range(n):
        width = min(half, i, n - 1 - i)
        out[i] = x[i - width : i + width + 1].mean()
    if positive:
        out[:n] = np.exp(out[:n])
    return [float(v) for v in out]


class _Recorder(Callback):
    """Record each step's LR and mean loss; stop after ``steps`` or on divergence."""

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.stopped = f"completed the sweep ({steps} steps)"
        self._ema = 0.0
        self._best = math.inf
        self._sum = 0.0
        self._count = 0

    def on_epoch_start(self, state: TrainState) -> None:
        self._sum, self._count = 0.0, 0

    def on_before_optimizer_step(self, state: TrainState) -> None:
        self.lrs.append(state.lr)
        # The loop sums the epoch's micro-batch losses; this step's are the new ones.
        loss = (state.epoch_loss_sum - self._sum) / max(1, state.epoch_batches - self._count)
        self._sum, self._count = state.epoch_loss_sum, state.epoch_batches
        self.losses.append(loss)

    def on_step_end(self, state: TrainState) -> None:
        loss = self.losses[-1]
        n = len(self.losses)
        self._ema = EMA_BETA * self._ema + (1 - EMA_BETA) * loss
        running = self._ema / (1 - EMA_BETA**n)
        self._best = min(self._best, running)
        if not math.isfinite(loss):
            self.stop(state, f"stopped at lr={self.lrs[-1]:.2g}: the loss is {loss}")
        elif n > 1 and running > DIVERGE * self._best:
            self.stop(
                state,
                f"stopped at lr={self.lrs[-1]:.2g}: the loss diverged "
                f"(running loss {running:.3g} > {DIVERGE:g}x the best {self._best:.3g})",
            )
        elif n >= self.steps:
            state.stop = True

    def stop(self, state: TrainState, why: str) -> None:
        self.stopped = why
        state.stop = True


class TrainingSnapshot:
    """A model's weights and buffers, its modules' train/eval modes, an optimizer's state
    and the RNGs, copied so that trial steps (the range test, a memory probe) can be undone
    bit for bit with :meth:`restore`."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.model = model
        self.optimizer = optimizer
        self.weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.optimizer_state = copy.deepcopy(optimizer.state_dict())
        self.modes = [m.training for m in model.modules()]
        self.torch_rng = torch.get_rng_state()
        self.cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
        self.numpy_rng = np.random.get_state()  # noqa: NPY002 - restored, not drawn from
        self.python_rng = random.getstate()

    def restore(self) -> None:
        with torch.no_grad():
            self.model.load_state_dict(self.weights)
        # load_state_dict replaces the param groups, which also drops the "initial_lr"
        # the sweep's scheduler added to them.
        self.optimizer.load_state_dict(self.optimizer_state)
        for module, mode in zip(self.model.modules(), self.modes, strict=True):
            module.training = mode
        torch.set_rng_state(self.torch_rng)
        if self.cuda_rng:
            torch.cuda.set_rng_state_all(self.cuda_rng)
        np.random.set_state(self.numpy_rng)  # noqa: NPY002
        random.setstate(self.python_rng)
