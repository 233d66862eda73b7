"""The doctor's cheap steps: forward hooks only where layer outputs are read, the heap walk for
kept loss graphs only when marked graphs outlive their steps, and the fused tensor statistics
giving the numbers the element-wise ones gave."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.doctor.conftest import blobs, ids, mlp
from trainwell import doctor
from trainwell.doctor import signals, stats


def test_forward_hooks_only_on_the_steps_that_read_layer_outputs() -> None:
    """With the loss probe attached (``watch``), a loss module's loss still reaches the curve
    on every step, while the module forward hooks run only on heavy steps (and the first
    steps, until the rows stop being new)."""
    x, y = blobs(n=128)
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    watched: list[int] = []
    with doctor.watch(model, opt) as dr:
        for _ in range(40):
            watched.append(dr.forward_watched)
            opt.zero_grad()
            nn.CrossEntropyLoss()(model(x), y).backward()  # full batch: rows stop being new
            opt.step()
    assert len(dr.curve) == 40  # every step's loss, hooks on or off
    on = [step for step, w in enumerate(watched) if w]
    # the first steps, until three batches in a row bring no new row (the input layer is
    # known after step 0, rows come from step 1), then the heavy steps only
    assert on == [0, 1, 2, 3, 4, 16, 32]
    assert dr.findings == []


@pytest.mark.parametrize("keep", [False, True])
def test_heap_walk_only_when_marked_graphs_outlive_their_steps(
    keep: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    walks: list[int] = []
    original = signals.held_loss_graphs

    def counted() -> tuple[int, int]:
        walks.append(1)
        return original()

    monkeypatch.setattr(signals, "held_loss_graphs", counted)
    x, y = blobs(n=256)
    model = mlp()
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    kept = []
    with doctor.watch(model, opt) as dr:
        for _ in range(3):
            for i in range(0, 256, 16):
                opt.zero_grad()
                loss = nn.CrossEntropyLoss()(model(x[i : i + 16]), y[i : i + 16])
                loss.backward()
                opt.step()
                kept.append(loss if keep else loss.item())
    assert ("loss-graph-kept" in ids(dr)) is keep
    assert (len(walks) > 0) is keep  # a loop that frees its losses is never walked


def test_fused_statistics_match_the_elementwise_definitions() -> None:
    g = torch.Generator().manual_seed(0)
    for shape in [(64, 32), (4, 6, 5, 5), (3, 7, 9)]:
        out = torch.relu(torch.randn(*shape, generator=g) - 1.0)
        out[:, 0] = 0  # one dead unit at least
        dim = 1 if out.dim() != 3 else 2
        alive = (out > 0).movedim(dim, 0).flatten(1).any(dim=1)
        assert stats.dead_unit_fraction(out) == pytest.approx(1 - alive.float().mean().item())
        grad = torch.randn(*shape, generator=g)
        grad[: shape[0] // 2] = 0
        zero = (grad.flatten(1).abs().amax(dim=1) == 0).float().mean().item()
        assert stats.zero_row_fraction(grad) == pytest.approx(zero)
