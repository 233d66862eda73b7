"""Frozen layers (``requires_grad=False``) left in the optimizer: they say nothing about the
learning rate. Found by trying trainwell on text with a frozen encoder under a trained head:
the doctor called the LR too low ("each step changes the weights by only 0.0e+00 of their
norm"), the median update over every weight matrix being the frozen ones' zero."""

from __future__ import annotations

import torch
from torch import nn

from tests.doctor.conftest import ids, run


def _frozen_trunk_model() -> nn.Sequential:
    torch.manual_seed(0)
    trunk = [nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 32)]
    model = nn.Sequential(*trunk, nn.ReLU(), nn.Linear(32, 3))
    for layer in trunk:
        layer.requires_grad_(False)
    return model


def _random_labels() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(256, 8, generator=g), torch.randint(0, 3, (256,), generator=g)


def test_a_frozen_trunk_in_the_optimizer_is_not_a_too_low_learning_rate() -> None:
    x, y = _random_labels()  # the loss barely falls: a plateau, as on an easy linear probe
    model = _frozen_trunk_model()
    dr = run(model, x, y, steps=80, opt=torch.optim.Adam(model.parameters(), 1e-3))
    assert "lr-too-low" not in ids(dr)


def test_a_too_low_learning_rate_on_the_trained_head_is_still_found() -> None:
    x, y = _random_labels()
    model = _frozen_trunk_model()
    dr = run(model, x, y, steps=80, opt=torch.optim.SGD(model.parameters(), 1e-9))
    assert "lr-too-low" in ids(dr)
