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
    data = DataLoader(_Pairs(256), batch_size=16)  # unshuffled, as the example off a GPU
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    opt = torch.optim.SGD(model.parameters(), 0.05)
    criterion = nn.CrossEntropyLoss()
    with doctor.watch(model, opt) as dr:
        xb, yb = next(iter(data))
        for _epoch in range(3):  # later epochs too: rows are fingerprinted in the first only
            for batch in data:
                if not same_batch:
                    xb, yb = batch
                opt.zero_grad()
                criterion(model(xb), yb).backward()
                opt.step()
            model.eval()
            with torch.no_grad():  # a validation pass: the doctor's epoch boundary
                criterion(model(xb), yb)
            model.train()
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
    # in place, as in ResNet: the norm's output tensor then carries the ReLU's graph node
    layers += [nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3)]
    return nn.Sequential(*layers)


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


# ---- found on gat ----------------------------------------------------------------------------
class _Gated(nn.Module):
    """A layer with a primary weight ``W`` and a secondary ``a`` registered after it whose
    gradient is ~1e-4 of ``W``'s (a graph-attention layer's score vector at init)."""

    def __init__(self, d_in: int, d_out: int, scale: float) -> None:
        super().__init__()
        self.W = nn.Parameter(torch.randn(d_in, d_out) * scale / d_in**0.5)
        self.a = nn.Parameter(torch.randn(d_out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x @ self.W
        return h * (1 + 1e-4 * torch.tanh(h @ self.a))


def _layer_explosion(scale: float) -> list[str]:
    torch.manual_seed(0)
    x, y = blobs(n=256)
    model = nn.Sequential(
        nn.Linear(8, 32), nn.ReLU(), _Gated(32, 32, scale), nn.ReLU(), _Gated(32, 3, scale)
    )
    dr = run(model, x, y, steps=2, opt=torch.optim.SGD(model.parameters(), 1e-4))
    return [f.evidence["last"] for f in dr.findings if f.id == "exploding-gradients"]


def test_a_secondary_weight_is_not_the_last_layer_of_the_gradient_ratio() -> None:
    assert _layer_explosion(scale=1.0) == []
    assert _layer_explosion(scale=80.0) == ["4.W"]  # scaled-up init: still found


def _node_split(transductive: bool) -> list[str]:
    """Train on 120 of 200 nodes, validate on 40 others. Transductive (gat, gcn): every node
    goes in, the loss reads ``out[idx]``. Planted: inductive batches, validation drawn from
    the training nodes."""
    torch.manual_seed(0)
    x, y = blobs(n=200)
    idx = torch.randperm(200)
    idx_train, idx_val = idx[:120], idx[120:160]
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    criterion = nn.CrossEntropyLoss()
    with doctor.watch(model, opt) as dr:
        for _ in range(6):
            model.train()
            opt.zero_grad()
            if transductive:
                criterion(model(x)[idx_train], y[idx_train]).backward()
            else:
                criterion(model(x[idx_train]), y[idx_train]).backward()
            opt.step()
            model.eval()
            with torch.no_grad():
                if transductive:
                    criterion(model(x)[idx_val], y[idx_val])
                else:
                    criterion(model(x[idx_train[:40]]), y[idx_train[:40]])
    return [f.id for f in dr.findings if f.id == "validation-overlaps-train"]


def test_whole_graph_inputs_with_split_outputs_are_not_a_validation_leak() -> None:
    assert _node_split(transductive=True) == []
    assert _node_split(transductive=False) == ["validation-overlaps-train"]


# ---- found on reinforcement_learning/actor_critic ------------------------------------------
def _per_item_losses(keep: bool) -> list[str]:
    """Each step sums 40 per-item ``F.smooth_l1_loss`` terms (a value loss per time step of
    an episode) into its one backward. Planted: every term also kept in a history list."""
    torch.manual_seed(0)
    x, y = torch.randn(400, 4), torch.randn(400, 1)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    history: list[torch.Tensor] = []
    with doctor.watch(model, opt) as dr:
        for start in range(0, 400, 40):
            terms = [
                nn.functional.smooth_l1_loss(model(x[i : i + 1]), y[i : i + 1])
                for i in range(start, start + 40)
            ]
            if keep:
                history.extend(terms)
            opt.zero_grad()
            torch.stack(terms).sum().backward()
            opt.step()
    return [f.id for f in dr.findings if f.id == "loss-graph-kept"]


def test_losses_summed_into_one_step_are_not_kept_graphs() -> None:
    assert _per_item_losses(keep=False) == []
    assert _per_item_losses(keep=True) == ["loss-graph-kept"]
