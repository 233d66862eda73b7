"""Kinds of false alarm found on healthy pytorch/examples scripts, each with its planted fault.

- A model output built in ``forward`` (a ``torch.cat`` of ``Linear`` outputs, as in
  time_sequence_prediction) that happens to start inside [0, 1] is not a bounded activation.
"""

from __future__ import annotations

import torch
from torch import nn

from tests.doctor.conftest import ids, run
from trainwell.doctor import stats


class PerStep(nn.Module):
    """One ``Linear`` per time step, joined with ``torch.cat`` (the container is the producer);
    ``squash`` puts a sigmoid on the joined output (the planted fault)."""

    def __init__(self, squash: bool) -> None:
        super().__init__()
        self.linear = nn.Linear(1, 1)
        self.squash = squash
        with torch.no_grad():  # starts inside [0, 1] on every input below
            self.linear.weight.fill_(0.01)
            self.linear.bias.fill_(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat([self.linear(x_t) for x_t in x.split(1, dim=1)], dim=1)
        return torch.sigmoid(out) if self.squash else out


def _sines() -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.arange(64, dtype=torch.float32).reshape(8, 8) + torch.arange(8).reshape(8, 1) * 3
    return torch.sin(t / 4), torch.sin((t + 1) / 4)  # targets span [-1, 1]


def test_output_activation_reads_the_graph_through_cat_and_views() -> None:
    lin = nn.Linear(3, 1)
    x = torch.ones(2, 3)
    assert stats.output_activation(torch.cat([lin(x), lin(x)], 1)) == "affine"
    assert stats.output_activation(torch.sigmoid(lin(x)).squeeze(-1)) == "sigmoid"
    assert stats.output_activation(torch.relu(lin(x)).view(-1)) == "relu"
    assert stats.output_activation(torch.cat([lin(x), torch.sigmoid(lin(x))], 1)) is None
    assert stats.output_activation(lin(x).detach()) is None


def test_cat_of_linear_outputs_inside_0_1_is_not_a_mismatch() -> None:
    x, y = _sines()
    clean = run(PerStep(squash=False), x, y, loss_fn=nn.MSELoss(), steps=2, batch=8)
    assert "output-loss-mismatch" not in ids(clean)
    planted = run(PerStep(squash=True), x, y, loss_fn=nn.MSELoss(), steps=2, batch=8)
    found = [f for f in planted.findings if f.id == "output-loss-mismatch"]
    assert len(found) == 1
    assert "(sigmoid)" in found[0].message
