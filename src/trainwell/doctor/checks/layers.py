"""Checks on sampled per-layer statistics: vanishing gradients, dead and saturated units,
parameters that get no gradient or never change."""

from __future__ import annotations

import math
from collections.abc import Sequence

from trainwell.doctor.thresholds import Thresholds
from trainwell.findings import Finding

_DEFAULT = Thresholds()


def check_vanishing(
    step: int,
    grad_norms: dict[str, float],
    epoch: int | None = None,
    *,
    t: Thresholds = _DEFAULT,
) -> Finding | None:
    """The first layer's gradient is tiny next to the last's (AutoTrainer beta1, TW-X04).

    ``grad_norms`` maps weight names to gradient norms in forward order. Fix: ReLU-family
    activations instead of sigmoid/tanh in hidden layers, He/Kaiming init, residual
    connections and normalization layers.
    """
    if len(grad_norms) < 3:
        return None
    items = list(grad_norms.items())
    (first, g_first), (last, g_last) = items[0], items[-1]
    if not (math.isfinite(g_first) and math.isfinite(g_last)) or g_last <= 0:
        return None
    ratio = g_first / g_last
    if ratio >= t.vanish_layer_ratio or g_first >= t.vanish_first_norm:
        return None
    return Finding(
        id="vanishing-gradients",
        practice="TW-X04",
        severity="warning",
        stage="train",
        step=step,
        epoch=epoch,
        message=f"Gradients vanish towards the input: {first} gets {g_first:.2g}, "
        f"{ratio:.1e}x the gradient of {last} ({g_last:.2g}).",
        evidence={"first": first, "first_norm": g_first, "last": last, "last_norm": g_last},
        fix="Use ReLU/GELU in hidden layers with Kaiming init, and add residual connections "
        "or BatchNorm/LayerNorm in deep stacks.",
    )


def check_dead_units(
    step: int,
    layer: str,
    fractions: Sequence[float],
    epoch: int | None = None,
    *,
    fall: float | None = None,
    final: bool = False,
    t: Thresholds = _DEFAULT,
) -> Finding | None:
    """Most units of a layer are dead (zero output / zero gradient for the whole batch) on
    the last sampled steps (TW-X04).

    Dying ReLUs are a fault when they hurt learning: AutoTrainer and DeepDiagnosis flag
    >= 70 % dead units, while Karpathy (CS231n) notes up to 40 % dead at a high LR in
    networks that still train. So the severity follows the training loss: ``fall`` is its
    relative fall from the start (``1 - recent / start``; None when unknown, e.g. a signed
    loss). A warning when (nearly) all units are dead (``dead_all_fraction``) or the loss has
    not fallen by ``dead_learning_fall``; an info note (capacity left unused) when the loss
    falls that much anyway. A mostly dead layer with the loss not (yet) falling waits until
    ``dead_wait_steps`` or the end of the run (``final``) before it is called a fault.

    Fix: lower the learning rate, use LeakyReLU/GELU, check the bias initialization (large
    negative biases kill ReLUs), add normalization before the activation.
    """
    recent = list(fractions[-t.layer_samples :])
    if len(recent) < t.layer_samples or min(recent) < t.dead_fraction:
        return None
    nearly_all = recent[-1] >= t.dead_all_fraction
    learning = fall is not None and fall >= t.dead_learning_fall
    if not (nearly_all or learning or final or step >= t.dead_wait_steps):
        return None  # the loss may still start to fall: judged at a later sample
    what = (
        f"{recent[-1]:.0%} of the units in {layer} are dead (no output or gradient for a whole "
        f"batch) on the last {len(recent)} sampled steps"
    )
    evidence = {"layer": layer, "dead_fraction": recent[-1], "samples": recent, "loss_fall": fall}
    if learning and not nearly_all:
        return Finding(
            id="dead-units",
            practice="TW-X04",
            severity="info",
            stage="train",
            step=step,
            epoch=epoch,
            message=f"{what}, while the training loss fell {fall:.0%} from its start: the "
            "network learns with the units left, the dead ones are capacity unused.",
            evidence=evidence,
            fix=f"To use all of {layer}'s units: LeakyReLU or GELU instead of ReLU, a lower "
            "learning rate, or BatchNorm before the activation; or make the layer narrower.",
        )
    progress = "" if fall is None else f" and the training loss fell only {fall:.0%}"
    return Finding(
        id="dead-units",
        practice="TW-X04",
        severity="warning",
        stage="train",
        step=step,
        epoch=epoch,
        message=f"{what}{'' if nearly_all else progress}.",
        evidence=evidence,
        fix="Use LeakyReLU or GELU, keep biases at 0 (no large negative init), lower the "
        "learning rate, or add BatchNorm before the activation.",
    )


def check_saturation(
    step: int,
    layer: str,
    fractions: Sequence[float],
    epoch: int | None = None,
    *,
    t: Thresholds = _DEFAULT,
) -> Finding | None:
    """Most pre-activations of a sigmoid/tanh layer sit at |x| >= 5, where the gradient is
    near zero (DeepDiagnosis, TW-X04).

    Fix: normalize the inputs, use smaller init or a normalization layer before the
    activation, or switch hidden layers to ReLU/GELU.
    """
    recent = list(fractions[-t.layer_samples :])
    if len(recent) < t.layer_samples or min(recent) <= t.saturated_fraction:
        return None
    return Finding(
        id="saturated-units",
        practice="TW-X04",
        severity="warning",
        stage="train",
        step=step,
        epoch=epoch,
        message=f"{recent[-1]:.0%} of the pre-activations of {layer} are saturated "
        f"(|x| >= {t.saturation_level:g}) on the last {len(recent)} sampled steps.",
        evidence={"layer": layer, "saturated_fraction": recent[-1], "samples": recent},
        fix="Normalize inputs, add BatchNorm/LayerNorm before the activation, use Xavier init, "
        "or use ReLU/GELU in hidden layers.",
    )


def check_no_grad_params(
    step: int, names: Sequence[str], samples: int, *, t: Thresholds = _DEFAULT
) -> Finding | None:
    """Parameters whose gradient was None or all zeros on every sampled step (TW-X08).

    Usual causes: a ``.detach()`` / ``.item()`` / ``torch.no_grad()`` that cuts the graph, a
    layer defined but never used in ``forward``, or a loss that does not depend on the output.
    """
    if not names or samples < t.dead_param_samples:
        return None
    return Finding(
        id="zero-gradients",
        practice="TW-X08",
        severity="warning",
        stage="train",
        step=step,
        message=f"{len(names)} parameters got no gradient on all {samples} sampled steps: "
        f"{', '.join(names[:4])}{' ...' if len(names) > 4 else ''}.",
        evidence={"parameters": list(names), "samples": samples},
        fix="Look for .detach(), .item(), .numpy() or torch.no_grad() between these layers "
        "and the loss, and for layers defined but unused in forward().",
    )


def check_unchanged_params(
    step: int, names: Sequence[str], samples: int, *, t: Thresholds = _DEFAULT
) -> Finding | None:
    """Parameters with a gradient whose value never changed across optimizer steps (TW-X08).

    Usual causes: a parameter group with ``lr=0``, or an optimizer built before the model was
    replaced or moved. Fix: rebuild the optimizer from the current ``model.parameters()``.
    """
    if not names or samples < t.dead_param_samples:
        return None
    return Finding(
        id="weights-unchanged",
        practice="TW-X08",
        severity="warning",
        stage="train",
        step=step,
        message=f"{len(names)} parameters have gradients but did not change on {samples} "
        f"sampled steps: {', '.join(names[:4])}{' ...' if len(names) > 4 else ''}.",
        evidence={"parameters": list(names), "samples": samples},
        fix="Check the optimizer's parameter groups (lr > 0) and build the optimizer after "
        "the model is final and on its device.",
    )
