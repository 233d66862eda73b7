"""clip-before-unscale (TW-T06): gradient clipping on gradients a GradScaler still scales
(pytorch/examples' minGPT-ddp trainer) is found; clipping after ``unscale_``, a disabled
scaler and no scaler at all stay silent."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.doctor.conftest import blobs
from trainwell import doctor


def _train(order: str, enabled: bool = True, steps: int = 4) -> tuple[list[str], list[float]]:
    """A small classifier under ``GradScaler("cpu")``; the gradient norm the optimizer gets."""
    torch.manual_seed(0)
    x, y = blobs(n=128, d=8, k=3)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cpu", enabled=enabled)
    norms = []
    with doctor.watch(model, opt) as dr:
        for _ in range(steps):
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            if order == "no-scaler":
                loss.backward()
            else:
                scaler.scale(loss).backward()
            if order == "unscale-first":
                scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            if order == "clip-first":
                scaler.unscale_(opt)  # what scaler.step() does first: read what the step gets
            norms.append(float(nn.utils.get_total_norm([p.grad for p in model.parameters()])))
            if order == "no-scaler":
                opt.step()
            else:
                scaler.step(opt)
                scaler.update()
    return [f.id for f in dr.findings], norms


def test_clipping_scaled_gradients_is_found() -> None:
    found, norms = _train("clip-first")
    assert found.count("clip-before-unscale") == 1
    assert max(norms) == pytest.approx(1.0 / 65536, rel=1e-3)  # what the finding says


@pytest.mark.parametrize(
    ("order", "enabled"), [("unscale-first", True), ("clip-first", False), ("no-scaler", True)]
)
def test_clipping_true_gradients_is_silent(order: str, enabled: bool) -> None:
    found, norms = _train(order, enabled)
    assert "clip-before-unscale" not in found
    assert max(norms) > 1e-3


def test_the_clipping_functions_are_restored() -> None:
    before = torch.nn.utils.clip_grad_norm_, torch.amp.GradScaler.scale
    _train("clip-first", steps=1)
    assert (torch.nn.utils.clip_grad_norm_, torch.amp.GradScaler.scale) == before
