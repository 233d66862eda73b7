"""Checks on the first steps: initial loss, output/loss pairing, inputs, batches, parameters."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from trainwell.doctor.thresholds import Thresholds
from trainwell.findings import Finding

_DEFAULT = Thresholds()
_CLASSIFICATION_LOSSES = {"CrossEntropyLoss", "NLLLoss"}
_BINARY_LOSSES = {"BCELoss", "BCEWithLogitsLoss"}
_REGRESSION_LOSSES = {"MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss"}


@dataclass(frozen=True)
class OutputSummary:
    """What the loss received: the model output's range and shape, and the target's.

    ``producer`` is the class name of the module whose output went into the loss, when known.
    ``activation`` is the function that made the output, read from its autograd graph through
    shape-only operations (``cat``, ``view``, ``squeeze`` ...): ``"sigmoid"``, ``"softmax"``,
    ``"relu"`` ... (see :data:`BOUNDED`), ``"affine"`` for a linear map or convolution, or
    ``None`` when unknown or mixed.
    """

    out_min: float
    out_max: float
    n_units: int
    rows_sum_to_one: bool
    target_min: float
    target_max: float
    target_is_float: bool
    producer: str | None = None
    activation: str | None = None


#: Output activations whose range is bounded: name -> (low, high) of what they can output.
BOUNDED: dict[str, tuple[float, float]] = {
    "sigmoid": (0.0, 1.0),
    "softmax": (0.0, 1.0),
    "hardsigmoid": (0.0, 1.0),
    "relu": (0.0, math.inf),
    "softplus": (0.0, math.inf),
}
# Activation modules, by class name, for an output read without its autograd graph.
_BOUNDED_MODULES = {
    "Sigmoid": "sigmoid",
    "Softmax": "softmax",
    "Hardsigmoid": "hardsigmoid",
    "ReLU": "relu",
    "Softplus": "softplus",
}


def _activation_of(out: OutputSummary) -> str | None:
    """The activation that made the output: from its graph, else from its producer module."""
    if out.activation is not None:
        return out.activation
    if out.producer in _AFFINE:
        return "affine"
    return _BOUNDED_MODULES.get(out.producer or "")


def expected_init_loss(loss_name: str, n_units: int) -> float | None:
    """The loss a well-initialized model shows at step 0 (Karpathy's recipe), if known.

    Example:
        >>> round(expected_init_loss("CrossEntropyLoss", 10), 3)
        2.303
    """
    if loss_name == "CrossEntropyLoss" and n_units >= 2:
        return math.log(n_units)
    if loss_name in _BINARY_LOSSES:
        return math.log(2.0)
    return None


def check_loss_at_init(
    loss: float, loss_name: str, n_units: int, *, t: Thresholds = _DEFAULT
) -> Finding | None:
    """The first loss is far above ln K: the initialization is off (TW-A07).

    Fix: use the framework's default initialization (Kaiming for ReLU, Xavier for tanh),
    don't scale the final layer's weights up, and initialize the output bias to the log of the
    class priors for imbalanced data.
    """
    expected = expected_init_loss(loss_name, n_units)
    if expected is None or not math.isfinite(loss) or loss <= t.init_loss_ratio * expected:
        return None
    return Finding(
        id="loss-at-init",
        practice="TW-A07",
        severity="warning",
        stage="preflight",
        step=0,
        message=(
            f"Loss at initialization is {loss:.3g}, {loss / expected:.1f}x the {expected:.3g} "
            f"expected from a uniform prediction ({loss_name}, {n_units} outputs)."
        ),
        evidence={"loss": loss, "expected": expected, "n_units": n_units},
        fix="Use the default initialization (nn.init.kaiming_uniform_ for ReLU layers) and "
        "do not scale the last layer's weights; the initial loss should be close to ln K.",
    )


def check_output_loss_mismatch(loss_name: str, out: OutputSummary) -> Finding | None:
    """The output activation does not fit the loss (TW-A06).

    Catches softmax before ``CrossEntropyLoss``, probabilities into ``NLLLoss``, a single
    output into ``CrossEntropyLoss``, ``BCELoss`` on unbounded outputs or on a softmax over one
    unit, sigmoid before ``BCEWithLogitsLoss``, and bounded outputs (ReLU, sigmoid, softmax)
    on a regression target outside their range.

    Fix: feed raw logits to ``CrossEntropyLoss`` / ``BCEWithLogitsLoss``; use a linear output
    for regression.
    """
    by = f" (output of {out.producer})" if out.producer else ""
    problem: str | None = None
    fix = "Feed raw logits (no activation on the last layer) to CrossEntropyLoss."
    if loss_name == "CrossEntropyLoss" and out.n_units == 1:
        problem = "CrossEntropyLoss gets a single output unit, so its loss is always 0"
        fix = "Use one output per class with CrossEntropyLoss, or BCEWithLogitsLoss for binary."
    elif loss_name == "CrossEntropyLoss" and out.rows_sum_to_one and out.out_min >= 0:
        problem = "CrossEntropyLoss gets probabilities (rows sum to 1): softmax applied twice"
        fix = "Remove the softmax before CrossEntropyLoss; it applies log-softmax itself."
    elif loss_name == "NLLLoss" and out.out_min >= 0:
        problem = "NLLLoss gets non-negative values, not log-probabilities"
        fix = "Apply log_softmax before NLLLoss, or use CrossEntropyLoss on raw logits."
    elif loss_name == "BCELoss" and out.n_units == 1 and out.out_min == out.out_max == 1.0:
        problem = "BCELoss gets a constant 1.0: a softmax over a single unit"
        fix = "Use sigmoid (not softmax) on a single output, or better BCEWithLogitsLoss."
    elif loss_name == "BCELoss" and (out.out_min < 0 or out.out_max > 1):
        problem = (
            f"BCELoss gets unbounded values in [{out.out_min:.3g}, {out.out_max:.3g}], "
            "not probabilities"
        )
        fix = "Use BCEWithLogitsLoss on the raw output (numerically stable), or add a sigmoid."
    elif (
        loss_name == "BCEWithLogitsLoss"
        and out.out_min >= 0
        and out.out_max <= 1
        and _activation_of(out) != "affine"  # a linear head can start inside [0, 1]
    ):
        problem = "BCEWithLogitsLoss gets values in [0, 1]: sigmoid applied twice"
        fix = "Remove the sigmoid before BCEWithLogitsLoss; it applies the sigmoid itself."
    elif loss_name in _REGRESSION_LOSSES and out.target_is_float:
        problem, fix = _regression_mismatch(out)
    if problem is None:
        return None
    return Finding(
        id="output-loss-mismatch",
        practice="TW-A06",
        severity="error",
        stage="preflight",
        step=0,
        message=f"{problem}{by}.",
        evidence={
            "loss": loss_name,
            "output_min": out.out_min,
            "output_max": out.out_max,
            "output_units": out.n_units,
            "target_min": out.target_min,
            "target_max": out.target_max,
        },
        fix=fix,
    )


# Layers whose output is an affine map: unbounded by construction, whatever range one batch
# happens to show at initialization (a linear head can start all-positive on a batch).
_AFFINE = frozenset(
    {
        "Linear",
        "LazyLinear",
        "Bilinear",
        "Conv1d",
        "Conv2d",
        "Conv3d",
        "ConvTranspose1d",
        "ConvTranspose2d",
        "ConvTranspose3d",
    }
)


def _regression_mismatch(out: OutputSummary) -> tuple[str | None, str]:
    """A bounded output activation on a regression target outside its range.

    Evidence must come from the activation, not from one batch's range: a linear head, or a
    ``torch.cat`` of linear outputs made inside ``forward``, can start all inside [0, 1] on
    the first batch. Only an output made by a bounded activation (its autograd graph, or an
    activation module as its producer) is judged, against the range that activation allows.
    """
    fix = "Use a linear (identity) output layer for regression targets."
    activation = _activation_of(out)
    bounds = BOUNDED.get(activation or "")
    if bounds is None:
        return None, fix
    low, high = bounds
    span = out.target_max - out.target_min
    if activation == "softmax" and out.n_units > 1:
        return "a softmax output is used for a regression target", fix
    if high <= 1 and (out.target_min < low or out.target_max > high):
        return (
            f"outputs are bounded to [0, 1] ({activation}) but targets span "
            f"[{out.target_min:.3g}, {out.target_max:.3g}]",
            fix,
        )
    if out.target_min < low - 0.1 * span:
        return (
            f"outputs are never negative ({activation}) but targets go down to "
            f"{out.target_min:.3g}",
            fix,
        )
    return None, fix


def check_input_scale(
    layer: str,
    means: Sequence[float],
    stds: Sequence[float],
    *,
    normalized_by: str | None = None,
    t: Thresholds = _DEFAULT,
) -> Finding | None:
    """Inputs to the first layer are far from zero mean / unit variance (TW-D08).

    ``normalized_by`` names a batch or instance norm the first layer's output goes straight
    into (ResNet's ``conv1`` -> ``bn1``). That norm standardizes each output channel over the
    batch, so a common scale factor of the inputs and any per-feature offset cancel exactly
    in the forward pass and in the gradients (for a scale ``a``: ``L(BN(aWx))`` is
    ``L(BN(Wx))``, and its gradient in ``W`` is the same; Ioffe & Szegedy 2015, sec. 3).
    Then the inputs are an info note, unless their features' stds differ by more than
    ``t.input_norm_spread`` (a norm after the layer does not equalize features of different
    units: incomes next to ages) or the scale passes ``t.input_norm_max_scale``.

    Fix: standardize each feature (or image channel) with statistics fitted on the training
    split, e.g. ``sklearn.preprocessing.StandardScaler`` or ``transforms.Normalize``.
    """
    if not means:
        return None
    worst_mean = max(abs(m) for m in means)
    worst_std = max(stds)
    scale = max(worst_mean, worst_std)
    if not math.isfinite(scale) or scale <= t.input_scale:
        return None
    varying = sorted(s for s in stds if s > 1e-6 * worst_std)
    spread = worst_std / varying[len(varying) // 2] if varying else math.inf
    evidence = {"max_abs_mean": worst_mean, "max_std": worst_std, "features": len(means)}
    message = (
        f"Inputs to {layer} are far from normalized: largest |feature mean| {worst_mean:.3g}, "
        f"largest feature std {worst_std:.3g} (expected about 0 and 1)"
    )
    if (
        normalized_by is not None
        and spread <= t.input_norm_spread
        and scale <= t.input_norm_max_scale
    ):
        return Finding(
            id="inputs-not-normalized",
            practice="TW-D08",
            severity="info",
            stage="preflight",
            step=0,
            message=f"{message}, but {layer} feeds {normalized_by}, which standardizes its "
            "output over the batch: the inputs' common scale and offsets cancel there, so "
            "they do not slow training.",
            evidence={**evidence, "normalized_by": normalized_by, "std_spread": spread},
            fix="Optional: standardize the inputs anyway (transforms.Normalize(mean, std)), so "
            "the model does not depend on the norm layer staying right after the input layer.",
        )
    return Finding(
        id="inputs-not-normalized",
        practice="TW-D08",
        severity="warning",
        stage="preflight",
        step=0,
        message=f"{message}.",
        evidence=evidence,
        fix="Standardize inputs with statistics from the training split "
        "(StandardScaler, or transforms.Normalize(mean, std) for images).",
    )


def label_order_ratio(batches: Sequence[np.ndarray]) -> float | None:
    """Label diversity within batches relative to random batches of the same sizes.

    1.0 means as diverse as shuffled data; near 0 means each batch holds one class (or one
    narrow range of a continuous target). ``None`` when the labels do not vary at all.
    Diversity is the entropy of a batch's labels (discrete labels) or their variance
    (continuous ones). Uses its own NumPy generator, so global random state is untouched.
    Every batch is measured at once (:func:`_batch_spreads`): the doctor calls this on every
    8th of the first 64 batches, during training.
    """
    pooled = np.concatenate([b.ravel() for b in batches])
    discrete = not np.issubdtype(pooled.dtype, np.floating)
    sizes = np.array([b.size for b in batches])
    values = _class_codes(pooled) if discrete else pooled.astype(np.float64)
    if _batch_spreads(values, np.array([values.size]), discrete)[0] <= 0:
        return None
    observed = float(np.mean(_batch_spreads(values, sizes, discrete)))
    # the same permutation as of the labels themselves: it depends on the length only
    shuffled = np.random.default_rng(0).permutation(values)
    reference = float(np.mean(_batch_spreads(shuffled, sizes, discrete)))
    return observed / reference if reference > 0 else None


def _class_codes(labels: np.ndarray) -> np.ndarray:
    """Non-negative integer codes of discrete labels (equal labels, equal codes); class
    indices are used as they are, less their minimum, without a sort."""
    if labels.dtype.kind in "iub" and labels.size:
        low, high = int(labels.min()), int(labels.max())
        if high - low <= 4 * labels.size + 1024:
            return labels.astype(np.int64) - low
    return np.unique(labels, return_inverse=True)[1].ravel()


def _batch_spreads(values: np.ndarray, sizes: np.ndarray, discrete: bool) -> np.ndarray:
    """Entropy (``discrete``: ``values`` are class codes) or variance of each consecutive run
    of ``sizes`` values; 0 for a run of fewer than 2 values (variance) or none.

    One ``bincount`` over (run, class) pairs instead of a ``np.unique`` per batch: the per-batch
    loop cost ~85 us a batch, ~5 ms at 64 batches, inside a training step.
    """
    n = len(sizes)
    rows = np.repeat(np.arange(n), sizes)
    safe = np.maximum(sizes, 1)
    if discrete:
        k = int(values.max()) + 1 if values.size else 1
        counts = np.bincount(rows * k + values, minlength=n * k).reshape(n, k)
        p = counts / safe[:, None]
        # p log p is 0 for an absent class (its limit)
        terms = np.where(counts > 0, p * np.log(np.where(counts > 0, p, 1.0)), 0.0)
        return np.asarray(-terms.sum(axis=1))
    mean = np.bincount(rows, weights=values, minlength=n) / safe
    dev = values - mean[rows]
    var = np.bincount(rows, weights=dev * dev, minlength=n) / safe
    return np.where(sizes > 1, var, 0.0)


def check_label_order(
    batches: Sequence[np.ndarray], *, step: int, t: Thresholds = _DEFAULT
) -> Finding | None:
    """Consecutive batches hold sorted or clustered labels: the data is not shuffled (TW-D12).

    Fix: shuffle the training data every epoch (``DataLoader(..., shuffle=True)``).
    """
    if len(batches) < t.label_order_min_batches:
        return None
    ratio = label_order_ratio(batches)
    if ratio is None or ratio >= t.label_order_ratio:
        return None
    return Finding(
        id="batches-not-shuffled",
        practice="TW-D12",
        severity="warning",
        stage="preflight",
        step=step,
        message=(
            f"Labels within the first {len(batches)} batches are {ratio:.2f}x as varied as in "
            "shuffled batches: the training data looks sorted or clustered."
        ),
        evidence={"diversity_ratio": ratio, "batches": len(batches)},
        fix="Shuffle the training set every epoch: DataLoader(train_set, shuffle=True).",
    )


def check_not_in_optimizer(names: Sequence[str]) -> Finding | None:
    """Trainable parameters are missing from the optimizer, so they never update (TW-X08).

    Fix: build the optimizer from ``model.parameters()`` (or add the missing parameter group),
    or set ``requires_grad=False`` on parameters meant to stay frozen.
    """
    if not names:
        return None
    return Finding(
        id="params-not-in-optimizer",
        practice="TW-X08",
        severity="warning",
        stage="preflight",
        step=0,
        message=f"{len(names)} trainable parameters are not held by the optimizer: "
        f"{_short(names)}. They receive gradients but never change.",
        evidence={"parameters": list(names)},
        fix="Create the optimizer from model.parameters(), or freeze these parameters on "
        "purpose with p.requires_grad_(False).",
    )


def check_frozen_in_optimizer(names: Sequence[str], step: int = 0) -> Finding | None:
    """Parameters given to the optimizer stayed frozen (``requires_grad=False``) for the
    whole run (TW-X08).

    Passing a parameter to the optimizer says it should train; a frozen flag left over from a
    fine-tuning stage contradicts that. Frozen for a while and then released (gradual
    unfreezing, TW-A04) is not a finding, nor is freezing that fit planned: the doctor judges
    this when training ends. Fix: unfreeze with ``p.requires_grad_(True)`` or drop it from
    the optimizer.
    """
    if not names:
        return None
    return Finding(
        id="params-frozen",
        practice="TW-X08",
        severity="warning",
        stage="train",
        step=step,
        message=f"{len(names)} parameters in the optimizer stayed frozen (requires_grad=False) "
        f"for the whole run, so they never trained: {_short(names)}.",
        evidence={"parameters": list(names)},
        fix="Unfreeze them (p.requires_grad_(True)) if they should train, or leave them out "
        "of the optimizer.",
    )


def check_eval_mode(
    layers: Sequence[str], steps: int, *, t: Thresholds = _DEFAULT
) -> Finding | None:
    """Training steps ran with every dropout / batch-norm layer in eval mode (TW-T05).

    In eval mode dropout is off and batch norm uses frozen running statistics, so the model
    trains without its regularization. Fix: call ``model.train()`` at the start of every
    training epoch (validation code usually switches to ``model.eval()``).
    """
    if not layers or steps < t.eval_mode_steps:
        return None
    return Finding(
        id="eval-mode-training",
        practice="TW-T05",
        severity="warning",
        stage="train",
        step=steps,
        message=f"The model trains in eval mode: {_short(layers)} were in eval mode for "
        f"{steps} training steps in a row, so dropout / batch norm are inactive.",
        evidence={"layers": list(layers), "steps": steps},
        fix="Call model.train() at the start of every training epoch (after validation).",
    )


def _short(names: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
