"""Checks that run every step on cheap numbers: non-finite values, gradient and loss spikes."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from trainwell.doctor.thresholds import Thresholds
from trainwell.findings import Finding

_DEFAULT = Thresholds()
_LOWER_LR = "Lower the learning rate (try 10x lower) and enable gradient clipping: "
_CLIP = "torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0) before optimizer.step()."


def check_nonfinite_loss(
    step: int, loss: float, first_layer: str | None, epoch: int | None = None
) -> Finding | None:
    """The loss is NaN or Inf (TW-X02); ``first_layer`` is where activations first went bad.

    Fix: look for log(0), division by zero or sqrt of negatives at that layer; use the stable
    fused losses (``CrossEntropyLoss`` on logits, ``BCEWithLogitsLoss``); lower the LR.
    """
    if math.isfinite(loss):
        return None
    where = (
        f"Activations first became non-finite in {first_layer}."
        if first_layer
        else "All layer outputs were finite: the loss computation itself produced it."
    )
    return Finding(
        id="nonfinite-loss",
        practice="TW-X02",
        severity="error",
        stage="train",
        step=step,
        epoch=epoch,
        message=f"Loss is {loss} at step {step}. {where}",
        evidence={"loss": str(loss), "first_layer": first_layer},
        fix="Check for log(0), x/0 or sqrt(<0) there (add an epsilon, use log_softmax / "
        "CrossEntropyLoss / BCEWithLogitsLoss on logits), and lower the learning rate.",
    )


def check_nonfinite_grads(
    step: int, params: Sequence[str], epoch: int | None = None
) -> Finding | None:
    """Gradients are NaN or Inf while the loss was finite (TW-X02).

    Fix: an operation with an infinite derivative (sqrt or pow at 0, norm of a zero vector)
    sits before these parameters; add an epsilon, and clip gradients.
    """
    if not params:
        return None
    return Finding(
        id="nonfinite-gradients",
        practice="TW-X02",
        severity="error",
        stage="train",
        step=step,
        epoch=epoch,
        message=f"Non-finite gradients at step {step}, first in {params[0]} "
        f"({len(params)} parameters affected).",
        evidence={"parameters": list(params)},
        fix="Add an epsilon inside sqrt / norm / division, and " + _CLIP,
    )


def check_nonfinite_weights(
    step: int, params: Sequence[str], epoch: int | None = None
) -> Finding | None:
    """Weights became NaN or Inf after an optimizer step (TW-X02).

    Fix: the update overflowed; lower the learning rate and clip gradients, and restore the
    last good checkpoint — training cannot recover from non-finite weights.
    """
    if not params:
        return None
    return Finding(
        id="nonfinite-weights",
        practice="TW-X02",
        severity="error",
        stage="train",
        step=step,
        epoch=epoch,
        message=f"Weights are non-finite after step {step}, first in {params[0]}.",
        evidence={"parameters": list(params)},
        fix="Restore the last good checkpoint. " + _LOWER_LR + _CLIP,
    )


def check_grad_spike(
    step: int,
    norms: Sequence[float],
    start: float | None,
    epoch: int | None = None,
    *,
    t: Thresholds = _DEFAULT,
    terms: int = 1,
) -> Finding | None:
    """The total gradient norm jumped 50x above its recent median, or grew 50x above the level
    it started at (TW-X03).

    ``norms`` ends with the current step; ``start`` is the median norm of the first steps.
    For a loss that sums many terms (``terms`` this step: tokens, an episode's steps) the
    norms are per term, as a mean over them would give.
    Tiny gradients near convergence jump by large factors without harm, so a jump must also
    reach 5x the starting level, and last ``grad_spike_steps`` steps: a lone spike that the
    next step does not repeat (seen in a healthy LSTM under Adam) is noise. Fix: clip
    gradients and lower the learning rate.
    """
    if len(norms) <= t.grad_spike_warmup or start is None:
        return None
    current = norms[-1]
    persist = max(1, t.grad_spike_steps)
    history = [n for n in norms[-t.spike_window - persist : -persist] if math.isfinite(n)]
    if not history:
        return None
    if not math.isfinite(current):
        # NaN right after the norm grew many-fold is an explosion, not a bad operation.
        peak = max(history[-3:])
        if start <= 0 or peak <= t.grad_growth_before_nan * start:
            return None
        return Finding(
            id="exploding-gradients",
            practice="TW-X03",
            severity="error",
            stage="train",
            step=step,
            epoch=epoch,
            message=f"Gradient norm{_per_term(terms)} grew from {start:.3g} to {peak:.3g}, then "
            f"overflowed to {current} at step {step}.",
            evidence={"start": start, "peak": peak},
            fix=_LOWER_LR + _CLIP,
        )
    median = statistics.median(history)
    jump = all(
        n > t.grad_spike_factor * median and n > t.grad_spike_floor * start
        for n in norms[-persist:]
    )
    growth = current > t.grad_spike_factor * start
    if median <= 0 or not (jump or growth):
        return None
    return Finding(
        id="exploding-gradients",
        practice="TW-X03",
        severity="error",
        stage="train",
        step=step,
        epoch=epoch,
        message=f"Gradient norm{_per_term(terms)} jumped to {current:.3g}, "
        f"{current / median:.0f}x its recent median of {median:.3g}.",
        evidence={"grad_norm": current, "median": median},
        fix=_LOWER_LR + _CLIP,
    )


def _per_term(terms: int) -> str:
    return f" per loss term (the loss sums {terms} this step)" if terms > 1 else ""


def check_layer_explosion(
    step: int,
    grad_norms: dict[str, float],
    epoch: int | None = None,
    *,
    t: Thresholds = _DEFAULT,
) -> Finding | None:
    """Gradients grow through depth: ||g_first|| / ||g_last|| > 70 (AutoTrainer, TW-X03).

    ``grad_norms`` maps weight names to gradient norms in forward order. Fix: lower the
    initialization scale (default init), add normalization layers, clip gradients.
    """
    if len(grad_norms) < 3:
        return None
    (first, g_first), (last, g_last) = next(iter(grad_norms.items())), list(grad_norms.items())[-1]
    if not (math.isfinite(g_first) and math.isfinite(g_last)) or g_last <= 0:
        return None
    ratio = g_first / g_last
    if ratio <= t.explode_layer_ratio:
        return None
    return Finding(
        id="exploding-gradients",
        practice="TW-X03",
        severity="error",
        stage="train",
        step=step,
        epoch=epoch,
        message=f"Gradients grow {ratio:.0f}x from the last layer ({last}: {g_last:.3g}) to "
        f"the first ({first}: {g_first:.3g}).",
        evidence={"first": first, "first_norm": g_first, "last": last, "last_norm": g_last},
        fix="Use the default initialization (no scaled-up weights), add normalization "
        "(BatchNorm / LayerNorm), and " + _CLIP,
    )


def check_loss_spike(
    step: int,
    losses: Sequence[float],
    start: float | None,
    epoch: int | None = None,
    *,
    t: Thresholds = _DEFAULT,
) -> Finding | None:
    """The loss far above its recent median for ``spike_steps`` steps in a row (TW-X03).

    Each of those steps must be ``loss_spike_factor`` x the median before them and undo
    ``spike_rise`` of the first loss. One hard batch is not a spike: with small batches a
    single confidently wrong example lifts one step's loss 10-40x a near-zero median (seen on
    breast_cancer at batch 16 in a healthy run). Fix: clip gradients, lower the learning
    rate, check the data for bad samples.
    """
    persist = max(1, t.spike_steps)
    if len(losses) <= t.spike_warmup + persist - 1 or start is None:
        return None
    spiked = losses[-persist:]
    history = losses[-t.spike_window - persist : -persist]
    if not history or not all(math.isfinite(x) for x in spiked):
        return None
    median = statistics.median(history)
    current = min(spiked)
    if current <= t.loss_spike_factor * median or current - median <= t.spike_rise * start:
        return None
    return Finding(
        id="loss-spike",
        practice="TW-X03",
        severity="warning",
        stage="train",
        step=step,
        epoch=epoch,
        message=f"Loss spiked to {losses[-1]:.3g} at step {step}, {current / median:.1f}x its "
        f"recent median of {median:.3g} for {persist} steps.",
        evidence={"loss": losses[-1], "median": median, "steps_above": persist},
        fix=_LOWER_LR + _CLIP,
    )
