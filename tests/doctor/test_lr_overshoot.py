"""lr-too-high and updates-too-large (TW-X05) for adaptive optimizers need overshoot: large
first updates from a small init while the loss only falls (pytorch/examples'
mnist_forward_forward layer) stay silent; Adam at a huge LR whose loss jumps is still named."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.doctor.conftest import blobs, ids
from trainwell import doctor
from trainwell.doctor import checks
from trainwell.doctor.checks import regimen


class _GoodnessLayer(nn.Linear):
    """mnist_forward_forward's Layer: ReLU of the normalized input's projection, trained to
    push the mean squared activation ("goodness") of positive rows above a threshold of 2 and
    of negative rows below it; from PyTorch's small init the weights must grow many-fold."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_direction = x / (x.norm(2, 1, keepdim=True) + 1e-4)
        return torch.relu(x_direction @ self.weight.T + self.bias)


def _forward_forward(lr: float, steps: int = 40) -> tuple[set[str], list[float]]:
    x, y = blobs(n=256, d=16, k=4)
    x_pos, x_neg = x.clone(), x.clone()
    x_pos[:, :4] = nn.functional.one_hot(y, 4).float() * x.max()
    x_neg[:, :4] = nn.functional.one_hot((y + 1) % 4, 4).float() * x.max()
    layer = _GoodnessLayer(16, 64)
    opt = torch.optim.Adam(layer.parameters(), lr=lr)
    losses = []
    with doctor.watch(layer, opt) as dr:
        for _ in range(steps):
            g_pos = layer(x_pos).pow(2).mean(1)
            g_neg = layer(x_neg).pow(2).mean(1)
            loss = torch.log1p(torch.exp(torch.cat([-g_pos + 2.0, g_neg - 2.0]))).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return ids(dr), losses


def test_large_first_updates_while_the_loss_falls_are_not_a_too_high_lr() -> None:
    found, losses = _forward_forward(lr=0.03)
    assert max(losses[1:]) <= losses[0]  # the loss only fell
    assert not found & {"lr-too-high", "updates-too-large"}


def test_adaptive_lr_named_only_when_the_loss_rose() -> None:
    args = (1, "Adam", 0.03, [1.15, 0.67], 0.1)
    assert regimen.check_lr_too_high(*args, loss_rose=False) is None
    assert regimen.check_lr_too_high(*args, loss_rose=True) is not None
    assert regimen.check_lr_too_high(*args, loss_rose=None) is not None  # not known yet
    # SGD's update is lr times the gradient: its ratio is evidence on its own
    assert regimen.check_lr_too_high(1, "SGD", 3.0, [0.5, 0.5], 0.1, loss_rose=False)
    ratios = [0.5, 0.34]
    assert checks.check_updates_too_large(4, ratios, adaptive=True, loss_rose=False) is None
    assert checks.check_updates_too_large(4, ratios, adaptive=True, loss_rose=True) is not None
    assert checks.check_updates_too_large(4, ratios, adaptive=False, loss_rose=False) is not None


@pytest.mark.parametrize("lr", [3.0])
def test_huge_adam_lr_on_the_same_layer_is_named(lr: float) -> None:
    found, losses = _forward_forward(lr=lr)
    assert max(losses[1:]) > losses[0]
    assert "lr-too-high" in found
