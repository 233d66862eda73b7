"""Causes in how training is set up, named instead of their symptoms: an LR schedule that
decayed the rate to nothing, a weight decay that dominates the update, dropout that leaves
nothing to learn from, losses kept with their graphs."""

from __future__ import annotations

from trainwell.findings import Finding

# The LR fell below this fraction of where it started and stayed there (a cosine schedule
# reaches it only in the last ~0.1 % of its steps).
LR_COLLAPSE = 1e-6
LR_COLLAPSE_STEPS = 20
# Per-step shrink factor lr * weight_decay (SGD, AdamW): 1e-2 halves the weights in ~70 steps.
DECAY_SHRINK = 1e-2
# The top of the usual decoupled weight decay range (AdamW: 0.01-0.1; Loshchilov & Hutter).
USUAL_DECAY = 0.1
COUPLED_DECAY = 0.1  # L2 coefficient for Adam / RMSprop / Adagrad (typical 1e-5 .. 1e-2)
DROPOUT_HIGH = 0.75  # TW-T05: 0.2-0.5
# The top of the usual learning-rate range per optimizer family. Adam-style optimizers
# (Adam, AdamW, NAdam, RAdam, Adamax) and RMSprop move each weight by about ``lr`` per step:
# their defaults are 1e-3 (Kingma & Ba 2015) and 1e-2 (RMSprop), and usual values are
# 1e-5 .. 3e-3; SGD runs at 0.01 .. 0.1 (He et al. 2016: 0.1 with momentum 0.9 at batch
# 256). Ten times the top of these ranges is not a choice anyone tunes to on purpose.
USUAL_LR = {"adaptive": 0.01, "rmsprop": 0.05, "sgd": 0.5}
_ADAPTIVE = ("Adam", "AdamW", "NAdam", "RAdam", "Adamax", "SparseAdam")


def check_lr_decayed(
    step: int,
    lr: float,
    initial: float,
    since: int,
    scheduler: str | None,
    epoch: int | None = None,
) -> Finding | None:
    """The learning rate decayed to a negligible fraction of its start and stayed there
    (TW-T03): a scheduler stepped every batch where it counts epochs (StepLR's step_size,
    ExponentialLR's gamma). Raising the LR does not help; fix the ``scheduler.step()`` call.

    ``since`` is the step the LR first fell below ``LR_COLLAPSE * initial``.
    """
    if initial <= 0 or lr > LR_COLLAPSE * initial or step - since < LR_COLLAPSE_STEPS:
        return None
    who = f"the {scheduler} scheduler" if scheduler else "the LR scheduler"
    return Finding(
        id="lr-decayed-away",
        practice="TW-T03",
        severity="error",
        stage="train",
        step=step,
        epoch=epoch,
        message=f"The learning rate fell from {initial:.3g} to {lr:.3g} by step {since} and "
        f"training stopped moving: {who} decays it far faster than intended.",
        evidence={"lr": lr, "initial_lr": initial, "collapsed_at": since, "scheduler": scheduler},
        fix=f"Call {who}.step() once per epoch (after the epoch loop), not after every batch, "
        "or give it step counts in batches (step_size / T_max = epochs * batches per epoch).",
    )


def check_weight_decay(
    step: int,
    optimizer: str,
    lr: float,
    weight_decay: float,
    decoupled: bool,
    update_ratio: float | None,
    stuck: bool,
    epoch: int | None = None,
) -> Finding | None:
    """Weight decay so strong that it, not the data, sets the update (TW-T05).

    With SGD / AdamW every step shrinks the weights by ``lr * weight_decay``; when that is
    over 1 % per step, the measured update ||dW|| / ||W|| is about ``lr * weight_decay`` and
    the loss cannot fall, this is the cause, not a too-high LR. For Adam's coupled L2 an
    coefficient of 0.1 or more does the same. Fix: weight_decay 1e-4 .. 1e-2 (AdamW 0.01-0.1).
    """
    shrink = lr * weight_decay
    # A usual coefficient (AdamW's 0.01-0.1) under a huge LR is the LR's fault, not the decay's:
    # the decay is the cause only when the coefficient itself is above the usual range.
    strong = (
        shrink >= DECAY_SHRINK and weight_decay > USUAL_DECAY
        if decoupled
        else weight_decay >= COUPLED_DECAY
    )
    if not strong:
        return None
    explains_update = update_ratio is not None and 0.3 * shrink <= update_ratio <= 3 * shrink
    if not (stuck or explains_update):
        return None
    measured = (
        f"; measured update {update_ratio:.2g} of the weights per step" if update_ratio else ""
    )
    return Finding(
        id="weight-decay-too-strong",
        practice="TW-T05",
        severity="error",
        stage="train",
        step=step,
        epoch=epoch,
        message=f"weight_decay={weight_decay:g} in {optimizer} (lr {lr:g}) shrinks the weights by "
        f"{shrink:.2g} per step{measured}: the decay, not the data, drives the weights.",
        evidence={
            "weight_decay": weight_decay,
            "lr": lr,
            "lr_times_wd": shrink,
            "update_ratio": update_ratio,
        },
        fix=f"Lower weight_decay in {optimizer} to 1e-4 .. 1e-2 (AdamW: 0.01-0.1), keep the "
        "learning rate.",
    )


def lr_family(optimizer: str) -> str | None:
    """The family whose usual LR range applies to an optimizer class name (``None``: unknown,
    e.g. Adadelta, whose ``lr`` of 1.0 is only a multiplier)."""
    if optimizer in _ADAPTIVE:
        return "adaptive"
    if optimizer == "RMSprop":
        return "rmsprop"
    return "sgd" if optimizer == "SGD" else None


def check_lr_too_high(
    step: int,
    optimizer: str,
    lr: float,
    update_ratios: list[float],
    high_ratio: float,
    epoch: int | None = None,
    loss_rose: bool | None = None,
) -> Finding | None:
    """The learning rate itself is too high: above its optimizer's usual range, and each
    step measurably moves the weights by more than ``high_ratio`` of their norm (TW-X05).

    For the adaptive family the large steps must also overshoot: the loss must have risen
    above its value before the first update at some step since. Adam's first updates are
    about ``lr`` per weight whatever the gradient, so their ratio is ``lr`` over the init's
    scale; a layer that must grow many-fold from a small init (pytorch/examples'
    mnist_forward_forward, Adam lr=0.03: ratio 1.15 at step 0, train error 0.19 where lr=0.01
    gives 0.59) shows the same ratios as an overshooting one (Adam lr=0.3 on a small CNN: its
    loss jumps 1.39 -> 44.7 after the first update) while its loss only falls.

    This is the cause the gradient explosion, loss spikes, oscillation and dead units that
    follow are symptoms of (the overshooting steps grow the gradients, not the other way
    round), so it is checked from the first sampled steps, before those symptoms show.
    A gradient that is huge from the start under a usual LR (raw targets in the thousands,
    a scaled-up init) is not this: its LR is in range.

    Args:
        step: the step the last update ratio was measured at.
        optimizer: the optimizer's class name (``"SGD"``, ``"Adam"`` ...).
        lr: its learning rate (first parameter group).
        update_ratios: ||dW|| / ||W|| (median over layers) of the consecutive sampled steps
            to judge; all must exceed ``high_ratio`` (DeepDiagnosis' 1e-1 bound).
        high_ratio: the update-ratio bound.
        epoch: the current epoch, if known.
        loss_rose: whether the training loss of some step after the first was above the first
            step's (any sign); ``None``: not known yet (fewer than two steps), not used.
    """
    family = lr_family(optimizer)
    if family is None or not update_ratios or lr <= USUAL_LR[family]:
        return None
    if min(update_ratios) <= high_ratio:
        return None
    if family == "adaptive" and loss_rose is False:
        return None  # only falling: the weights grow from a small init, nothing overshoots
    return Finding(
        id="lr-too-high",
        practice="TW-X05",
        severity="error",
        stage="train",
        step=step,
        epoch=epoch,
        message=f"The learning rate is too high: {optimizer}(lr={lr:g}) is above the usual "
        f"range (up to {USUAL_LR[family]:g}) and each step changes the weights by "
        f"{update_ratios[-1]:.0%} of their norm.",
        evidence={"lr": lr, "optimizer": optimizer, "update_ratios": list(update_ratios)},
        fix=f"Lower the learning rate of {optimizer} 10-100x (typical: 1e-3 for Adam, "
        "0.01-0.1 for SGD) or run an LR range test; gradient clipping alone only hides it.",
    )


def check_dropout(
    step: int, layers: dict[str, float], reason: str, epoch: int | None = None
) -> Finding | None:
    """Dropout of 0.75 or more: the network cannot fit the training data (TW-T05).

    ``layers`` maps dropout layers to their ``p``; ``reason`` says what shows it (training
    loss stuck, validation far below training). Fix: p = 0.1-0.5.
    """
    high = {k: p for k, p in layers.items() if p >= DROPOUT_HIGH}
    if not high:
        return None
    names = ", ".join(f"{k} (p={p:g})" for k, p in high.items())
    return Finding(
        id="regularization-too-strong",
        practice="TW-T05",
        severity="warning",
        stage="train",
        step=step,
        epoch=epoch,
        message=f"Dropout drops most units: {names}; {reason}.",
        evidence={"dropout": high},
        fix="Use dropout p between 0.1 and 0.5 (nn.Dropout(0.2)); regularize more only once "
        "the model fits the training data.",
    )


def check_held_graphs(count: int, chain: int, step: int | None = None) -> Finding | None:
    """Loss tensors with their autograd graphs are kept across steps, so memory grows every
    epoch (PyTorch FAQ "don't accumulate history across your training loop").

    ``chain`` is the longest running sum of losses (``total += loss``); ``count`` the
    scalars with graphs alive (``losses.append(loss)``). Fix: ``loss.item()``.
    """
    if chain < 10 and count < 20:
        return None
    how = (
        f"a running total built from {chain} losses (total += loss)"
        if chain >= 10
        else f"{count} loss tensors alive with their graphs (losses.append(loss))"
    )
    return Finding(
        id="loss-graph-kept",
        practice="TW-X09",
        severity="warning",
        stage="train",
        step=step,
        message=f"The script keeps losses with their autograd history: {how}. Every step's "
        "graph stays in memory, which grows each epoch.",
        evidence={"scalars_with_graph": count, "longest_sum": chain},
        fix="Accumulate plain numbers: total += loss.item() (or loss.detach()); append "
        "loss.item() to lists.",
    )
