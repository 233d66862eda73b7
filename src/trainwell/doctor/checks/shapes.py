"""Shapes and axes that give valid-looking numbers: broadcasting in the loss, a softmax over
the batch, a recurrent layer reading the batch as time (all TW-A06)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from trainwell.findings import Finding

_REGRESSION = {"MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss"}
_CLASSIFICATION = {"CrossEntropyLoss", "NLLLoss"}


@dataclass(frozen=True)
class AxesSummary:
    """Shapes of a loss's output and target, and the axis the output sums to one over."""

    out_shape: tuple[int, ...]
    target_shape: tuple[int, ...]
    target_is_float: bool
    rows_sum_to_one: bool  # softmax (or log_softmax) over classes, dim 1
    cols_sum_to_one: bool  # ... over the batch, dim 0
    out_min: float = 0.0
    out_max: float = 0.0


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    out = []
    for x, y in zip(a, b, strict=True):
        if x != y and 1 not in (x, y):
            return None
        out.append(max(x, y))
    return tuple(out)


def check_pairing_shapes(loss_name: str, s: AxesSummary) -> Finding | None:
    """Output and target shapes that broadcast, or a softmax taken over the batch axis.

    * ``MSELoss`` on an (N, 1) output and an (N,) target broadcasts to (N, N): every
      prediction is compared with every target, and the model learns the mean (PyTorch
      warns, the loss looks plausible). Fix: ``out.squeeze(-1)`` or ``y.unsqueeze(-1)``.
    * ``softmax(dim=0)`` normalizes each class over the batch, not each row over the
      classes: the predictions depend on the other samples. Fix: ``dim=1`` (or ``-1``).
    """
    if loss_name in _REGRESSION and s.out_shape != s.target_shape:
        shape = _broadcast(s.out_shape, s.target_shape)
        if shape is not None and math.prod(shape) > max(
            math.prod(s.out_shape), math.prod(s.target_shape)
        ):
            return Finding(
                id="loss-broadcast",
                practice="TW-A06",
                severity="error",
                stage="preflight",
                step=0,
                message=f"{loss_name} compares an output of shape {tuple(s.out_shape)} with a "
                f"target of shape {tuple(s.target_shape)}: they broadcast to {shape}, so "
                "every prediction is scored against every target and the model can only "
                "learn their mean.",
                evidence={"output_shape": list(s.out_shape), "target_shape": list(s.target_shape)},
                fix="Make the shapes equal before the loss: loss_fn(out.squeeze(-1), y) or "
                "loss_fn(out, y.view(-1, 1)).",
            )
    if (
        loss_name == "NLLLoss"
        and len(s.out_shape) == 2
        and s.out_min < 0 < s.out_max
        and not s.rows_sum_to_one
        and not s.cols_sum_to_one
    ):
        return Finding(
            id="output-loss-mismatch",
            practice="TW-A06",
            severity="error",
            stage="preflight",
            step=0,
            message=f"NLLLoss gets raw scores in [{s.out_min:.3g}, {s.out_max:.3g}], not "
            "log-probabilities: it returns minus the score of the true class, which falls "
            "without bound as the scores grow.",
            evidence={"loss": loss_name, "output_min": s.out_min, "output_max": s.out_max},
            fix="Apply log_softmax(dim=1) to the output before NLLLoss, or use "
            "CrossEntropyLoss on the raw scores.",
        )
    if s.cols_sum_to_one and not s.rows_sum_to_one and len(s.out_shape) == 2:
        return Finding(
            id="softmax-over-batch",
            practice="TW-A06",
            severity="error",
            stage="preflight",
            step=0,
            message=f"The output going into {loss_name} sums to one down each column of the "
            f"batch (shape {tuple(s.out_shape)}), not across each row: the softmax is taken "
            "over the batch axis (dim=0), so each prediction depends on the other samples.",
            evidence={"output_shape": list(s.out_shape)},
            fix="Take the softmax / log_softmax over the class axis: dim=1 (or dim=-1); with "
            "CrossEntropyLoss drop the softmax and return logits.",
        )
    return None


def check_rnn_layout(
    rnn_inputs: Sequence[tuple[str, bool, tuple[int, ...]]], n: int
) -> Finding | None:
    """A recurrent layer reads (batch, time, feature) data as (time, batch, feature).

    ``rnn_inputs`` are (layer name, batch_first, input shape) of each RNN/LSTM/GRU's first
    call; ``n`` the batch size of the target. Without ``batch_first=True`` PyTorch takes dim 0
    as time: with dim 0 equal to the batch size and dim 1 not, the layer runs across the
    samples of the batch instead of along each sequence. Fix: ``batch_first=True``.
    """
    for name, batch_first, shape in rnn_inputs:
        if batch_first or len(shape) != 3 or n < 2 or shape[0] != n or shape[1] == n:
            continue
        return Finding(
            id="rnn-batch-first",
            practice="TW-A06",
            severity="error",
            stage="preflight",
            step=0,
            message=f"{name} gets input of shape {shape} whose first axis is the batch "
            f"({n} targets), but it was built without batch_first=True, so it reads that axis "
            "as time: the recurrence runs across the samples of a batch.",
            evidence={"layer": name, "input_shape": list(shape), "batch_size": n},
            fix=f"Build {name} with batch_first=True (or feed it x.transpose(0, 1)).",
        )
    return None
