"""Observe, never perturb: training with the doctor gives bit-identical weights."""

from __future__ import annotations

import torch
from torch import nn

from trainwell import doctor
from trainwell.doctor import Thresholds


def train(watched: bool) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(8, 64),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(64, 64),
        nn.Tanh(),
        nn.BatchNorm1d(64),
        nn.Linear(64, 3),
    )
    opt = torch.optim.AdamW(model.parameters(), 1e-2, weight_decay=0.01)
    x, y = torch.randn(96, 8), torch.randint(0, 3, (96,))
    loss_fn = nn.CrossEntropyLoss()

    def loop() -> None:
        for step in range(40):
            rows = torch.randint(0, 96, (16,))  # draws from the global RNG, like dropout
            opt.zero_grad()
            loss_fn(model(x[rows]), y[rows]).backward()
            opt.step()
            if step % 10 == 9:
                model.eval()
                with torch.no_grad():
                    loss_fn(model(x), y)
                model.train()

    if watched:
        # Heavy statistics on every step, so every probe runs on every step.
        with doctor.watch(model, opt, thresholds=Thresholds(heavy_every=1)) as dr:
            loop()
        assert dr.step == 40
    else:
        loop()
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_weights_are_bit_identical_with_and_without_the_doctor() -> None:
    off, on = train(watched=False), train(watched=True)
    assert off.keys() == on.keys()
    for name in off:
        assert torch.equal(off[name], on[name]), name


def test_hooks_come_off_after_watch() -> None:
    model = nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with doctor.watch(model, opt) as dr:
        pass
    model(torch.randn(4, 2)).sum().backward()
    opt.step()
    assert dr.step == 0
