"""Kinds of false alarm found on pytorch/examples' siamese_network, each with its planted fault.

- Pair datasets set the target by the item's position (even index: same class, 1; odd: 0),
  so every batch of an unshuffled loader has the same labels in the same order while its
  inputs change: not the same batch fed again (that one repeats the inputs too).
- A first layer that feeds a BatchNorm (ResNet's ``conv1`` -> ``bn1``) makes a common input
  scale and offset cancel: raw 0-255 pixels there are an info note, not a warning; features of
  different units are still a warning.
- A loss given a view of the model's output (``model(x).squeeze()``) still knows the output
  layer: the output sigmoid saturating is a confident prediction, not a saturated layer.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from tests.doctor.conftest import blobs, ids, run
from trainwell import doctor
from trainwell.doctor import Doctor


class _Pairs(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Target by position (``index % 2``), input drawn fresh for every item."""

    def __init__(self, n: int) -> None:
        self.x = torch.randn(n, 8)
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[index] + (index % 2), torch.tensor(index % 2)


def _pairs_run(same_batch: bool) -> Doctor:
    data = DataLoader(_Pairs(512), batch_size=16)  # unshuffled, as the example off a GPU
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    opt = torch.optim.SGD(model.parameters(), 0.05)
    with doctor.watch(model, opt) as dr:
        xb, yb = next(iter(data))
        for batch in data:
            if not same_batch:
                xb, yb = batch
            opt.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
    return dr


def test_labels_set_by_position_over_new_inputs_are_not_the_same_batch() -> None:
    assert "same-batch" not in ids(_pairs_run(same_batch=False))
    assert "same-batch" in ids(_pairs_run(same_batch=True))


def _input_scale(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[str]:
    dr = run(model, x, y, steps=2, batch=32)
    return [f.severity for f in dr.findings if f.id == "inputs-not-normalized"]


def _conv(norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(1, 8, 3, padding=1, bias=False)]
    layers += [nn.BatchNorm2d(8)] if norm else []
    return nn.Sequential(*layers, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))


def test_raw_pixels_into_a_conv_that_feeds_batchnorm_are_a_note() -> None:
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(96, 1, 12, 12, generator=g) * 255).round()  # raw bytes, like MNIST's
    y = torch.randint(0, 3, (96,), generator=g)
    assert _input_scale(_conv(norm=True), x, y) == ["info"]
    assert _input_scale(_conv(norm=False), x, y) == ["warning"]


def test_features_of_different_units_stay_a_warning_before_batchnorm() -> None:
    x, y = blobs(n=96, d=4)
    x = x * torch.tensor([20_000.0, 10.0, 1.0, 1.0]) + torch.tensor([50_000.0, 40.0, 0.0, 0.0])
    model = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    assert _input_scale(model, x, y) == ["warning"]
    same_units = x[:, :1].repeat(1, 4) + torch.randn(96, 4) * 20_000  # one common scale
    model = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    assert _input_scale(model, same_units / 10, y) == ["info"]


class _Scorer(nn.Module):
    """A pair score: Linear -> (hidden sigmoid when planted) -> Linear(., 1) -> sigmoid, with
    weights large enough that the output sigmoid starts saturated (|x| >= 5)."""

    def __init__(self, hidden_sigmoid: bool) -> None:
        super().__init__()
        self.hidden = nn.Linear(8, 16)
        self.act: nn.Module = nn.Sigmoid() if hidden_sigmoid else nn.ReLU()
        self.out = nn.Linear(16, 1)
        self.sigmoid = nn.Sigmoid()
        with torch.no_grad():
            self.hidden.weight.mul_(40 if hidden_sigmoid else 4)
            self.out.weight.mul_(40)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sigmoid(self.out(self.act(self.hidden(x))))


def _saturated(hidden_sigmoid: bool) -> list[str]:
    x, y = blobs(n=256, k=2)
    dr = run(
        _Scorer(hidden_sigmoid),
        x,
        y.float(),
        loss_fn=nn.BCELoss(),
        steps=12,
        forward=lambda m, xb, _: m(xb).squeeze(),  # the loss gets a view, as in the example
    )
    return [f.evidence["layer"] for f in dr.findings if f.id == "saturated-units"]


def test_output_sigmoid_seen_through_a_squeeze_is_not_saturated_units() -> None:
    assert _saturated(hidden_sigmoid=False) == []
    assert _saturated(hidden_sigmoid=True) == ["act"]
