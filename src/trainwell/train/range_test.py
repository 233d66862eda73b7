"""The learning-rate range test (TW-T02): sweep the LR up, watch the loss, suggest an LR.

Leslie Smith's range test ("Cyclical Learning Rates for Training Neural Networks", 2017), as
fastai's ``lr_find``, Lightning's ``Tuner.lr_find`` and the ``torch-lr-finder`` package run
it: train for ``steps`` optimizer steps while the learning rate grows exponentially from
``start_lr`` to ``end_lr``, record the training loss at every step, and stop once the loss has
clearly diverged. The sweep trains exactly as fit will (the same batches, accumulation,
precision and gradient clipping), through :func:`trainwell.train.loop.train`.

Afterwards the model's weights and buffers, the optimizer's state and learning rates, the
train/eval mode of every module and the random-number generators are put back exactly as they
were, so training after the test is bit-identical to training that never ran it.

**Enough steps for the data.** The sweep runs at least ``MIN_EPOCHS`` epochs' worth of steps
(at most ``MAX_STEPS``), and the curve is averaged over a window of at least one epoch of
batches (at most ``steps // 8``): on a small table the loss of one batch of 16 rows says more
about which rows were drawn than about the learning rate (on the Grunfeld panel one batch's
loss ranges over 30x at an LR of 1e-7, where nothing can have been learned yet); averaged over
an epoch every row counts once.

**Is the curve to be trusted?** Before any rule is applied the curve is judged
(``verdict``):

* ``too short``: fewer than ``2 * window`` finite losses, or less than one window of curve
  before the loss first rises clearly (below): the sweep diverged almost at once.
* ``flat``: the smoothed loss never falls ``MIN_DROP`` (5 %) below its starting level (the
  mean of the first window, where the LR is too small for anything to be learned), or its
  fall is under ``FLAT_Z`` (2) standard errors, indistinguishable from no fall. A frozen
  pre-trained backbone under a linear-probed head gives such a curve: every LR is as good
  as the next, and reading a "valley" off a 0.3 % wobble is reading noise. The standard
  error is that of the difference of two smoothed points: the batch-to-batch scatter of the
  log-loss (a robust standard deviation, 1.4826 x MAD of the successive differences of the
  raw log-losses, over sqrt(2)) times ``sqrt(2 / window)``.
* ``noisy``: the fall is ``FLAT_Z`` standard errors or more but under ``NOISE_Z`` (3): a
  hint of a descent, too weak to read an LR off.

An untrusted curve gives no suggestion; :func:`choose_lr` then uses ``DEFAULT_LR`` (1e-3,
AdamW's usual starting point and PyTorch's default for Adam; TW-T01) and says why.

**The rules** (recorded in ``method`` and ``reason``; all three are in ``candidates``):

* The curve the rules read is a centred moving average of the log-loss. A centred window has
  no lag, where the exponential moving average fastai and Lightning use shifts the whole
  curve to the right (higher LRs) by about half its memory.
* It is read, from its first full window, only up to where the smoothed loss first climbs
  to ``RISE`` (1.5) x its best so far and ``NOISE_Z`` standard errors above it: the first
  divergence (a climb within the batch scatter is not one). Past it, Adam with clipping can
  dip again for a while at large LRs on easy problems; those dips are luck, not a range to
  train in.
* The descent starts at the last point, before the lowest one, where the smoothed loss is
  still at its starting level; earlier wiggles are noise around the start (fastai skips the
  first tenth of the sweep for the same reason, Lightning's ``suggestion(skip_begin=10)``
  the first ten points, and so does the search for the lowest point here).
* ``valley`` (default; fastai's default since 2021, fastai PR 3377,
  ``fastai.callback.schedule.valley``, a rule from ESRI): the longest decreasing stretch of
  the curve, here taken from the descent start to the lowest point; fastai's index rule
  puts the suggestion half way along it (``start + len/3 + len/6``). It is the most stable
  of the three on small data. In a sweep longer than fastai's 100 steps (a large table's
  ``MIN_EPOCHS`` epochs) the descent starts only once a tenth of the fall is behind it
  (``DESCENT_FALL``): such a sweep trains longer at each too-small LR, and the drift that
  training causes is not the LR's valley.
* ``steepest`` (fastai's ``steep``; Lightning's ``_LRFinder.suggestion``): the LR where the
  smoothed loss falls fastest per decade of LR, within the descent. Lightning takes the
  gradient of the (EMA-smoothed) loss against the LR itself; on an exponential sweep that
  divides the slope by the LR, which favours the lowest LRs, where a noisy curve's wiggles
  win. (Wiggles at the lowest LRs are also how this module's earlier valley reading chose
  3.7e-07 on the 220-row Grunfeld panel: hence the verdicts and the descent start above.)
* ``minimum`` (fastai's ``minimum``, after Smith): a tenth of the LR at the lowest smoothed
  loss.
"""

from __future__ import annotations

import copy
import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from trainwell.errors import RunError
from trainwell.findings import Finding
from trainwell.train.callback import Callback
from trainwell.train.callbacks.grad_norm import GradientNorm
from trainwell.train.checkpoint import atomic_write_bytes
from trainwell.train.loop import TrainData, train
from trainwell.train.precision import Precision
from trainwell.train.state import TrainState

Method = Literal["valley", "steepest", "minimum"]
Verdict = Literal["reliable", "flat", "noisy", "too short"]

START_LR = 1e-7  # fastai's and torch-lr-finder's sweep: 1e-7 to 10 in 100 steps
END_LR = 10.0
STEPS = 100
MIN_EPOCHS = 2  # the sweep sees every training row at least twice ...
MAX_STEPS = 300  # ... within this bound (a large data set needs no epoch for the test)
# Not capped at fastai's 100 on large tables: on 100k rows (benchmarks/train_cpu.py, 128 x 2,
# batch 512) the 300-step sweep cost 1.7-2.1 of the train stage's 27-32 CPU seconds, and a cap
# would save two thirds of that but move the reading (valley 1.8e-3 at 300 steps, 6.3e-4 at a
# cap of 100, 1.4e-2 at 150). Trained at 6.3e-4 the network took 23 epochs, not 21: 29.9 CPU s
# with no sweep at all against 31.5 with the 300-step one, for test accuracy 0.9834, not 0.9838.
# A few per cent, for a reading that moves with the cap: the sweep stays.
DIVERGE = 4.0  # stop once the smoothed loss exceeds 4x its best (fastai's stop_div)
EMA_BETA = 0.9  # memory of the running loss the divergence check reads (about 10 steps)
WINDOW = 9  # the least points in the centred moving average the rules read (~0.7 decade)
MIN_DROP = 0.05  # the smoothed loss must fall by 5% below its start to count as a descent
NOISE_Z = 3.0  # ... and by 3 standard errors of the smoothed curve
FLAT_Z = 2.0  # a fall of under 2 standard errors is no fall at all: the curve is flat
RISE = 1.5  # the curve is read up to where the smoothed loss first climbs to 1.5x its best
# In a sweep longer than STEPS (MIN_EPOCHS epochs of a large table), the valley counts from
# where the smoothed loss has fallen a tenth of its whole fall (in log-loss). Such a sweep
# spends more steps at each too-small LR, so the loss drifts down by sheer training before
# the LR matters, and with a large batch's small scatter it never comes back to its start:
# counted as descent, that drift pulled the valley's middle down a decade (100k rows, batch
# 512, 258 steps: the loss drifted 1% over the 1.5 decades from lr=1.6e-6, and the valley
# read 8.2e-5 where the steepest and minimum rules read 5.9e-4 and 4.5e-4; now 6.3e-4).
# A sweep of STEPS or fewer (every table up to ~10k rows at the chosen batch) reads as before.
DESCENT_FALL = 0.1
DEFAULT_LR = 1e-3  # AdamW's usual starting point, when the test cannot be trusted (TW-T01)


def sweep_plan(steps: int, batches_per_epoch: float) -> tuple[int, int]:
    """The sweep's steps and smoothing window for data of ``batches_per_epoch`` steps.

    Steps: at least ``steps`` and ``MIN_EPOCHS`` epochs, at most ``MAX_STEPS`` (unless
    ``steps`` asks for more). Window: an odd number of points, at least ``WINDOW`` and one
    epoch of batches, at most an eighth of the sweep.

    Example:
        >>> sweep_plan(100, 10)  # 160 rows in batches of 16
        (100, 11)
        >>> sweep_plan(100, 80)
        (160, 21)
    """
    epoch = max(1, math.ceil(batches_per_epoch))
    total = max(steps, min(MAX_STEPS, MIN_EPOCHS * epoch))
    window = max(WINDOW, min(epoch, total // 8))
    return total, window | 1


@dataclass
class RangeTest:
    """One range test: the curve, whether it can be trusted, the suggestion and why.

    ``lrs[i]`` is the learning rate of optimizer step ``i``; ``losses[i]`` that step's
    training loss (mean over its micro-batches), measured before the step's update;
    ``smoothed`` is the curve the rules read (centred moving average of ``window`` points).
    ``verdict`` is ``reliable``, ``flat``, ``noisy`` or ``too short`` (module docstring);
    ``suggestion`` is None unless it is ``reliable``; ``reason`` says why either way.
    ``drop`` is the smoothed loss's fall below its starting level (a fraction), ``noise``
    the robust standard deviation of the raw log-losses around the smoothed curve.
    ``fallback`` and ``fallback_reason`` are the LR the run used instead of an untrusted
    suggestion, filled in by :func:`choose_lr`. ``to_dict`` is its JSON form.
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
    verdict: str = "reliable"
    window: int = WINDOW
    drop: float | None = None
    noise: float | None = None
    fallback: float | None = None
    fallback_reason: str | None = None

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
        steps: optimizer steps in the full sweep (fewer if the loss diverges first); raised
            to ``MIN_EPOCHS`` epochs of ``data`` by :func:`sweep_plan`, which also sets the
            smoothing window.
        accumulate, precision, clip_grad_norm: as in training, so the curve is that of
            the run the suggestion is for.
        method: ``valley``, ``steepest`` or ``minimum`` (see the module docstring).

    Returns:
        The :class:`RangeTest`; ``suggestion`` is the first group's suggested LR, None when
        the curve cannot be trusted (``verdict`` and ``reason`` say why).

    Raises:
        ValueError: ``steps < 2`` or not ``0 < start_lr < end_lr``.

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
    steps, window = sweep_plan(steps, len(data) / max(1, accumulate))
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
    long_sweep = steps > STEPS  # more steps per decade of LR than fastai's 100 in all
    result = suggest(
        recorder.lrs, recorder.losses, method, window, DESCENT_FALL if long_sweep else 0.0
    )
    result.stopped = recorder.stopped
    result.start_lr, result.end_lr, result.steps = start_lr, end_lr, steps
    return result


@dataclass(frozen=True)
class LRChoice:
    """The learning rate a run starts from, where it came from and why (for the manifest).

    ``source`` is ``config`` (train.lr was set), ``range test`` (run now), ``recorded`` (the
    range test this run recorded before it was interrupted) or ``default`` (the test's curve
    could not be trusted: the fallback).
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
    whose curve, verdict and (when it cannot be trusted) the fallback LR with its reason are
    then written to ``record`` (JSON, atomically).

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
        if test.suggestion is None:
            test.fallback = default
            test.fallback_reason = (
                f"the curve cannot be trusted ({test.verdict}); fit starts at {default:g}, "
                "AdamW's usual starting point (TW-T01), and the doctor watches the result"
            )
        if record is not None:
            atomic_write_bytes(record, (json.dumps(test.to_dict(), indent=1) + "\n").encode())
        source = "range test"
    if test.suggestion is None:
        return LRChoice(
            default,
            "default",
            f"LR range test {test.verdict}: {test.reason}; using the fallback {default:g} "
            "(AdamW's usual starting point, TW-T01)",
        )
    return LRChoice(test.suggestion, source, f"LR range test: {test.reason}")


#: Doctor findings that say the learning rate is too high (TW-X05) or too low (TW-X06).
LR_TOO_HIGH = frozenset({"divergence", "oscillation", "updates-too-large"})
LR_TOO_LOW = frozenset({"lr-too-low"})


def check_lr_choice(choice: LRChoice, findings: Sequence[Finding]) -> list[Finding]:
    """The range test and the doctor must not contradict each other silently (TW-T02).

    If the LR the range test chose (or its fallback) is the one the doctor, during the same
    fit, calls too high (divergence, oscillation, too-large updates) or too low (plateau with
    tiny updates), this returns one ``lr-range-test-contradicted`` warning with both numbers
    and what the run did about it (the remedy lowered the LR, or nothing). An LR set in the
    config is the user's, not the test's: no finding.

    Args:
        choice: how the run's starting LR was chosen.
        findings: the doctor's findings of the run, remedies included.

    Returns:
        ``[finding]`` or ``[]``.

    Example:
        >>> doctor = Finding(id="lr-too-low", practice="TW-X06", severity="warning",
        ...                  stage="train", message="Loss is stuck.", fix="Raise it.", step=40)
        >>> [f.id for f in check_lr_choice(LRChoice(1e-7, "range test", "..."), [doctor])]
        ['lr-range-test-contradicted']
    """
    if choice.source == "config":
        return []
    verdict = next((f for f in findings if f.id in LR_TOO_HIGH | LR_TOO_LOW), None)
    if verdict is None:
        return []
    high = verdict.id in LR_TOO_HIGH
    remedies = [f for f in findings if f.id == "remedy-applied"]
    if remedies:
        final = remedies[-1].evidence.get("new_lr")
        action = f"the remedy restored a checkpoint and lowered it ({len(remedies)}x) to {final:g}"
    else:
        final = None
        action = "nothing was done: training went on at this learning rate"
    what = "the range test's suggestion" if choice.source != "default" else "the fallback"
    better = (final if final is not None else choice.lr / 10) if high else choice.lr * 10
    return [
        Finding(
            id="lr-range-test-contradicted",
            practice="TW-T02",
            severity="warning",
            stage="train",
            step=verdict.step,
            epoch=verdict.epoch,
            message=f"The LR range test was wrong: the run started at lr={choice.lr:.3g} "
            f"({what}; {choice.reason}), and the doctor called it too "
            f"{'high' if high else 'low'} at step {verdict.step} ({verdict.id}: "
            f"{verdict.message}) {action[0].upper()}{action[1:]}.",
            evidence={
                "chosen_lr": choice.lr,
                "lr_source": choice.source,
                "doctor_finding": verdict.id,
                "doctor_step": verdict.step,
                "direction": "too high" if high else "too low",
                "remedies": len(remedies),
                "lr_after_remedy": final,
            },
            fix=f"Start the next run at train.lr={better:.2g} and compare; look at the sweep "
            "in lr_find.json (trainwell lr-find DATA --target COL --plot lr.png).",
        )
    ]


def suggest(
    lrs: list[float],
    losses: list[float],
    method: Method = "valley",
    window: int = WINDOW,
    descent_fall: float = 0.0,
) -> RangeTest:
    """Judge a recorded curve and read a suggestion off it (see the module docstring).

    Args:
        lrs, losses: the sweep, one entry per optimizer step (non-finite losses end it).
        method: the rule that makes the suggestion.
        window: points of the centred moving average (odd).
        descent_fall: the share of the whole fall (of the log-loss) already behind the
            point where the valley starts; :func:`lr_range_test` passes ``DESCENT_FALL``
            for a sweep longer than ``STEPS`` and 0 otherwise.

    Returns:
        The :class:`RangeTest` (``stopped`` left empty for the caller).
    """
    smoothed = smooth(losses, window)
    result = RangeTest(list(lrs), list(losses), smoothed, None, method, "", "", window=window)
    n = next((i for i, v in enumerate(smoothed) if not math.isfinite(v)), len(smoothed))
    half = window // 2
    if n < 2 * window:
        result.verdict = "too short"
        result.reason = (
            f"only {n} steps with a finite loss, fewer than two smoothing windows of {window} "
            "(the loss diverged almost at once)"
        )
        return result
    curve = np.asarray(smoothed[:n], dtype=np.float64)
    raw = np.asarray(losses[:n], dtype=np.float64)
    positive = bool(np.all(raw > 0))
    # Log scale for positive losses (as smooth() averages them), raw scale otherwise.
    level, measured = (np.log(curve), np.log(raw)) if positive else (curve, raw)
    # Batch-to-batch scatter from successive differences, which the curve's own trend
    # hardly touches (deviations from the moving average would count a steep descent as
    # noise): a robust standard deviation (1.4826 x MAD), over sqrt(2) for a difference.
    steps = np.diff(measured)
    noise = 1.4826 * float(np.median(np.abs(steps - np.median(steps)))) / math.sqrt(2)
    error = noise / math.sqrt(window)  # standard error of one smoothed point
    start_level = float(level[half])  # the first full window: nothing learned yet
    # A rise counts when it is RISE x the best and beyond noise (NOISE_Z standard errors).
    rise = math.log(RISE) if positive else (RISE - 1) * abs(start_level)
    # Read from the first full window: the shrinking window at the ends is one raw loss.
    last = half + _first_rise(level[half:], max(rise, NOISE_Z * error * math.sqrt(2)))
    if last - half < window:
        result.verdict = "too short"
        result.reason = (
            f"the smoothed loss rose clearly above its best by lr={lrs[last + 1]:.2g}, "
            f"{last + 1} steps in: too little curve to read"
        )
        return result
    skip = max(half, n // 10)  # fastai skips the first tenth, Lightning the first 10 points
    low = skip + int(np.argmin(level[skip : last + 1]))
    fall = start_level - float(level[low])
    start_loss = float(curve[half])
    drop = fall if not positive else 1 - math.exp(-fall)
    result.drop, result.noise = drop, noise
    # The fall in standard errors of a difference (a noiseless curve: any fall is real).
    z = fall / (error * math.sqrt(2)) if error > 0 else (math.inf if fall > 0 else 0.0)
    if drop < MIN_DROP or z < FLAT_Z:
        result.verdict = "flat"
        result.reason = (
            f"the curve is flat: the smoothed loss fell only {drop:.1%} (from {start_loss:.4g} "
            f"to {curve[low]:.4g} at lr={lrs[low]:.2g}), "
            + (
                f"under the {MIN_DROP:.0%} a descent needs"
                if drop < MIN_DROP
                else f"{z:.1f} standard errors of its batch-to-batch scatter: no more than noise"
            )
        )
        return result
    if z < NOISE_Z:
        result.verdict = "noisy"
        result.reason = (
            f"the curve is too noisy: its fall from {start_loss:.4g} to {curve[low]:.4g} (at "
            f"lr={lrs[low]:.2g}) is {z:.1f} standard errors, under {NOISE_Z:g} (batch-to-batch "
            f"scatter {noise:.2g}{' in log-loss' if positive else ''}, window {window})"
        )
        return result
    # The descent starts where the curve was last at its starting level: wiggles before
    # that are noise around the start, not a valley.
    begin = max((i for i in range(half, low + 1) if level[i] >= start_level), default=half)
    # ... and, in a long sweep, once a share of the whole fall is behind it (DESCENT_FALL).
    begin = next(i for i in range(begin, low + 1) if level[i] <= level[begin] - descent_fall * fall)
    first, end = _valley(curve[begin : low + 1])
    first, end = begin + first, begin + end
    third = (end - first) / 3
    middle = first + int(third) + int(third / 2)  # fastai's index rule
    slope = np.gradient(level[: last + 1], np.log10(np.asarray(lrs[: last + 1], dtype=float)))
    steepest = begin + int(np.argmin(slope[begin : low + 1]))
    result.candidates = {
        "valley": float(lrs[middle]),
        "steepest": float(lrs[steepest]),
        "minimum": float(lrs[low]) / 10,
        "lowest_loss_lr": float(lrs[low]),
    }
    result.suggestion = result.candidates[method]
    fell = f"the smoothed loss fell {drop:.0%} ({z:.0f} standard errors)"
    if method == "valley":
        result.reason = (
            f"valley rule (fastai): {fell}; half way along its descent from lr={lrs[first]:.2g} "
            f"({curve[first]:.4g}) to lr={lrs[end]:.2g} ({curve[end]:.4g})"
        )
    elif method == "steepest":
        result.reason = (
            f"steepest rule (fastai's steep, Lightning): {fell}; it falls fastest at "
            f"lr={lrs[steepest]:.2g} ({-slope[steepest]:.3g} log-loss per decade) and is "
            f"lowest at lr={lrs[low]:.2g}"
        )
    else:
        result.reason = (
            f"minimum rule (fastai): {fell}; a tenth of lr={lrs[low]:.2g}, where it is lowest "
            f"({curve[low]:.4g})"
        )
    return result


def _first_rise(level: np.ndarray, margin: float) -> int:
    """The last index before the smoothed (log-)loss ``level`` first climbs ``margin`` above
    its best so far.

    Past that point training has started to diverge; a later dip (Adam with clipping can
    recover for a while at large LRs) is luck, not a range to train in.
    """
    best = math.inf
    for i, value in enumerate(level):
        if value > best + margin:
            return max(0, i - 1)
        best = min(best, float(value))
    return len(level) - 1


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
