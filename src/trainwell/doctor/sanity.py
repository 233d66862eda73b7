"""Overfit one batch: the sanity check every guide runs before training (TW-X01)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import torch

from trainwell.findings import Finding


def overfit_one_batch(
    model: torch.nn.Module | Callable[[], torch.nn.Module],
    batch: tuple[tuple[torch.Tensor, ...], torch.Tensor],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    steps: int = 200,
    lr: float = 1e-2,
    target_ratio: float = 0.1,
) -> Finding | None:
    """Train a copy on one batch; a working model drives its loss near zero (TW-X01).

    The real model is never touched: a model is deep-copied, a factory is called. The check
    uses Adam in train mode; global RNG state is saved and restored, so dropout in the copy
    does not shift the caller's random stream.

    Args:
        model: the model (copied) or a function returning a fresh one.
        batch: ``(inputs, target)`` as the loop feeds them: ``model(*inputs)``.
        loss_fn: the training loss.
        steps: optimizer steps on the batch.
        lr: Adam learning rate.
        target_ratio: passing means the final loss is below ``target_ratio`` x the initial.

    Returns:
        A finding when the loss did not fall that far (or became NaN), else ``None``.

    Example:
        >>> torch.manual_seed(0) and None
        >>> nn = torch.nn
        >>> net = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 3))
        >>> x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
        >>> overfit_one_batch(net, ((x,), y), torch.nn.functional.cross_entropy) is None
        True
    """
    copy_ = copy.deepcopy(model) if isinstance(model, torch.nn.Module) else model()
    inputs, target = batch
    rng = torch.random.get_rng_state()
    try:
        first, last = _fit(copy_, inputs, target, loss_fn, steps, lr)
    finally:
        torch.random.set_rng_state(rng)
    if math.isfinite(last) and (last <= target_ratio * first or last < 1e-3):
        return None
    return Finding(
        id="overfit-one-batch",
        practice="TW-X01",
        severity="error",
        stage="preflight",
        step=0,
        message=f"The model cannot overfit a single batch of {len(target)} examples: loss went "
        f"from {first:.3g} to {last:.3g} in {steps} steps (expected below "
        f"{target_ratio * first:.3g}).",
        evidence={"initial_loss": first, "final_loss": last, "steps": steps, "lr": lr},
        fix="Look for a bug before tuning: labels misaligned with inputs, a loss that does not "
        "match the output activation, a detached graph, or a model too small for the task.",
    )


def _fit(
    model: torch.nn.Module,
    inputs: tuple[torch.Tensor, ...],
    target: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], Any],
    steps: int,
    lr: float,
) -> tuple[float, float]:
    model.train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    first = last = math.nan
    for i in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(*inputs), target)
        last = float(loss.detach())
        if i == 0:
            first = last
        if not math.isfinite(last):
            break
        loss.backward()
        opt.step()
    return first, last
