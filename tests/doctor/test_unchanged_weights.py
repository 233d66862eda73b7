"""weights-unchanged (TW-X08) needs a gradient that could have moved the weights: a parameter
group at lr 0 is still found; a loss that is always 0 (cross-entropy over one
output unit, pytorch/examples' DDP tutorial) sends all-zero gradients, and only its cause,
output-loss-mismatch, is reported."""

from __future__ import annotations

import torch
from torch import nn

from tests.doctor.conftest import blobs
from trainwell import doctor


def _found(model: nn.Module, opt: torch.optim.Optimizer, loss_of: object) -> list[str]:
    x, y = blobs(n=128, d=8, k=3)
    with doctor.watch(model, opt) as dr:
        for _ in range(40):
            opt.zero_grad()
            loss = loss_of(model(x), y)  # type: ignore[operator]
            loss.backward()
            opt.step()
    return [f.id for f in dr.findings]


def test_a_parameter_group_at_lr_0_is_found() -> None:
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    groups = [{"params": model[0].parameters(), "lr": 0.0}, {"params": model[2].parameters()}]
    opt = torch.optim.SGD(groups, lr=0.1)
    assert "weights-unchanged" in _found(model, opt, nn.functional.cross_entropy)


def test_all_zero_gradients_are_not_unchanged_weights() -> None:
    model = nn.Linear(8, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)

    def one_class(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(out, torch.rand(len(y), 1))  # loss is always 0

    found = _found(model, opt, one_class)
    assert "output-loss-mismatch" in found
    assert "weights-unchanged" not in found
