"""Tensor statistics the probes compute: read-only, on detached tensors.

Every function here reads tensors and returns plain numbers; none writes to a tensor, draws
random numbers or builds autograd graph. The ones called during training steps detach their
inputs (one C call) rather than run under a ``torch.no_grad()`` decorator (about ten Python
calls each: the doctor's heavy steps make a dozen of them).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from trainwell.doctor.checks.preflight import OutputSummary


def grad_norms(grads: list[torch.Tensor]) -> list[torch.Tensor]:
    """Per-tensor L2 norms in one fused call where PyTorch offers it."""
    if not grads:
        return []
    # detached only where needed (a gradient made with create_graph=True): each detach is
    # an op through the dispatcher
    dense = [g.detach() if g.requires_grad else g for g in grads if not g.is_sparse]
    if len(dense) != len(grads):
        return [
            torch.linalg.vector_norm(g.detach().coalesce().values())
            if g.is_sparse
            else torch.linalg.vector_norm(g.detach())
            for g in grads
        ]
    # The doctor needs each tensor's norm, and PyTorch's public API has no fused per-tensor
    # norm (torch.nn.utils.get_total_norm returns only the total). torch._foreach_norm is
    # the fused kernel get_total_norm itself calls; it is private, so fall back to one norm
    # per tensor if it ever goes away.
    foreach = getattr(torch, "_foreach_norm", None)
    if foreach is not None:
        return list(foreach(dense))
    return [torch.linalg.vector_norm(g) for g in dense]


def norm_values(grads: list[torch.Tensor]) -> list[float]:
    """Per-tensor L2 norms as Python floats: one fused norm, one stack, one copy out."""
    norms = grad_norms(grads)
    return torch.stack(norms).float().tolist() if norms else []


def combined_norm(values: list[float]) -> float:
    """The L2 norm of tensors whose norms are ``values`` (inf or NaN propagate)."""
    return math.hypot(*values)


def zero_row_fraction(grad: torch.Tensor) -> float:
    """Fraction of output units (rows of a Linear / Conv weight) with an all-zero gradient.

    A row is all zero exactly when its largest absolute value is 0: one fused reduction per
    row (the inf-norm; an L2 norm could underflow to 0 for tiny non-zero rows), then a count,
    not an ``abs`` copy of the whole gradient. A row holding NaN is not a zero row.
    """
    rows = grad.detach().flatten(1)
    peak = torch.linalg.vector_norm(rows, ord=math.inf, dim=1)
    return 1.0 - int(torch.count_nonzero(peak)) / peak.numel()


def _unit_dim(t: torch.Tensor) -> int:
    # (N, C) and (N, C, H, W): channels; (N, T, C) from sequence models: the last dim.
    return t.dim() - 1 if t.dim() == 3 else 1


def dead_unit_fraction(out: torch.Tensor) -> float:
    """Fraction of units whose output is <= 0 for every sample (and position) in the batch."""
    if out.dim() < 2 or out.numel() == 0:
        return 0.0
    dim = _unit_dim(out)
    # The largest output of each unit, then one comparison per unit (not per element): a
    # unit is alive when its maximum is > 0 (NaN counts as not alive, as before).
    peak = out.detach().amax(dim=tuple(d for d in range(out.dim()) if d != dim))
    return 1.0 - int(torch.count_nonzero(peak > 0)) / peak.numel()


def saturated_fraction(pre_activation: torch.Tensor, level: float) -> float:
    """Fraction of sigmoid / tanh pre-activations with ``|x| >= level`` (gradient ~ 0)."""
    n = pre_activation.numel()
    if n == 0:
        return 0.0
    return int(torch.count_nonzero(pre_activation.detach().abs() >= level)) / n


@torch.no_grad()
def feature_moments(x: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-feature (or per-channel) mean and std over the batch."""
    x = x.float()
    if x.dim() < 2 or x.shape[0] < 2:
        return [], []
    dims = (0, *range(2, x.dim())) if x.dim() == 4 else tuple(range(x.dim() - 1))
    return x.mean(dim=dims).flatten().tolist(), x.std(dim=dims).flatten().tolist()


# Autograd nodes that only move, join or retype values: the output's range is that of their
# inputs. Nodes that make the output, by activation (see preflight.BOUNDED) or affine map.
_PASS_NODES = frozenset(
    {
        "AliasBackward0",
        "CatBackward0",
        "CloneBackward0",
        "ExpandBackward0",
        "PermuteBackward0",
        "ReshapeAliasBackward0",
        "SelectBackward0",
        "SliceBackward0",
        "SqueezeBackward0",
        "SqueezeBackward1",
        "SqueezeBackward2",
        "StackBackward0",
        "ToCopyBackward0",
        "TBackward0",
        "TransposeBackward0",
        "UnsafeViewBackward0",
        "UnsqueezeBackward0",
        "ViewBackward0",
    }
)
_MAKER_NODES = {
    "SigmoidBackward0": "sigmoid",
    "SoftmaxBackward0": "softmax",
    "HardsigmoidBackward0": "hardsigmoid",
    "ReluBackward0": "relu",
    "SoftplusBackward0": "softplus",
    "AddmmBackward0": "affine",
    "MmBackward0": "affine",
    "BmmBackward0": "affine",
    "ConvolutionBackward0": "affine",
}


def output_activation(out: torch.Tensor, limit: int = 512) -> str | None:
    """The function that made ``out``, read from its autograd graph (no tensor is touched).

    Walks back through shape-only nodes (``cat``, ``view``, ``squeeze`` ...) to the nodes
    that made the values; all of them must agree. Returns ``"sigmoid"``, ``"softmax"``,
    ``"relu"`` ... or ``"affine"`` (a linear layer or convolution), or ``None`` when ``out``
    has no graph, the makers differ or are other functions, or more than ``limit`` nodes
    would have to be visited.

    Example:
        >>> lin = torch.nn.Linear(3, 1)
        >>> x = torch.ones(2, 3)
        >>> output_activation(torch.cat([torch.sigmoid(lin(x)), torch.sigmoid(lin(x))], 1))
        'sigmoid'
        >>> output_activation(torch.cat([lin(x), lin(x)], 1))
        'affine'
    """
    makers: set[str] = set()
    todo = [out.grad_fn]
    seen = 0
    while todo:
        node = todo.pop()
        seen += 1
        if node is None or seen > limit:
            return None
        name = node.name()
        if name in _PASS_NODES:
            todo += [n for n, _ in node.next_functions if n is not None]
            continue
        maker = _MAKER_NODES.get(name)
        if maker is None:
            return None
        makers.add(maker)
    return makers.pop() if len(makers) == 1 else None


def view_chain(node: Any, limit: int = 16) -> list[Any]:
    """The autograd nodes a tensor with ``grad_fn`` ``node`` is a reshaped copy of: ``node``,
    then back through one-input shape-only nodes (``squeeze``, ``view``, ``.float()`` ...),
    ending at the node that made the values. Empty for ``None`` (no graph).

    A module whose output's ``grad_fn`` is in the chain produced the tensor: a loss given
    ``model(x).squeeze()`` still pairs with the model's last layer.
    """
    chain: list[Any] = []
    while node is not None and len(chain) < limit:
        chain.append(node)
        inputs = [n for n, _ in node.next_functions if n is not None]
        if node.name() not in _PASS_NODES or len(inputs) != 1:
            break
        node = inputs[0]
    return chain


def reaches_parameter_around(
    node: Any, around: list[Any], params: set[int], budget: int = 4096
) -> bool | None:
    """Whether the autograd graph under ``node`` (a back-propagated loss's ``grad_fn``)
    reaches a trained parameter by a path that does not pass through any node in ``around``
    (the ``grad_fn`` of each loss the loss functions computed): the loss has terms of its own
    besides them (actor-critic's policy term ``-log_prob * advantage`` next to
    ``F.smooth_l1_loss``; a KL term; a penalty on the weights written by hand). Scaling a
    loss (``loss / accumulation``, a gradient scaler's product) reaches no parameter.

    Args:
        node: the ``grad_fn`` of the tensor whose ``.backward()`` runs.
        around: nodes the walk stops at.
        params: ``id()`` of the parameters that count; empty: any leaf that requires grad.
        budget: the most nodes walked (depth-first, so a term's first path to a leaf is
            short).

    Returns:
        ``None`` when the budget ran out undecided.
    """
    stops = set(around)
    seen: set[Any] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if n is None or n in stops or n in seen:
            continue
        seen.add(n)
        if len(seen) > budget:
            return None
        leaf = getattr(n, "variable", None)  # AccumulateGrad: a leaf that requires grad
        if leaf is not None:
            if not params or id(leaf) in params:
                return True
            continue
        stack.extend(f for f, _ in n.next_functions)
    return False


def feeds_normalization(norm_out: torch.Tensor, layer_out: torch.Tensor, depth: int = 4) -> bool:
    """``norm_out`` (a batch or instance norm's output) was computed straight from
    ``layer_out``: the batch-norm node found within ``depth`` nodes of ``norm_out``'s
    ``grad_fn`` (an in-place activation after the norm, ResNet's ``ReLU(inplace=True)``,
    becomes the output's ``grad_fn``; instance norm reshapes around a batch norm) takes
    ``layer_out`` as its input, through shape-only nodes at most."""
    node, target = norm_out.grad_fn, layer_out.grad_fn
    for _ in range(depth):
        if node is None or target is None or not node.next_functions:
            return False
        first = node.next_functions[0][0]
        if "BatchNorm" in node.name():
            return target in view_chain(first)
        node = first
    return False


@torch.no_grad()
def summarize_loss_inputs(
    out: torch.Tensor, target: torch.Tensor, producer: str | None
) -> OutputSummary:
    """Range and shape of what a loss module receives, for the output/loss pairing check."""
    o = out.detach().float()
    t = target.detach()
    n_units = o.shape[1] if o.dim() >= 2 else 1
    rows_sum_to_one = bool(n_units > 1 and torch.allclose(o.sum(dim=1), torch.ones(()), atol=1e-3))
    tf = t.float()
    return OutputSummary(
        out_min=float(o.min()),
        out_max=float(o.max()),
        n_units=n_units,
        rows_sum_to_one=rows_sum_to_one,
        target_min=float(tf.min()) if tf.numel() else 0.0,
        target_max=float(tf.max()) if tf.numel() else 0.0,
        target_is_float=t.is_floating_point(),
        producer=producer,
        activation=output_activation(out),
    )
