"""The loop against plain PyTorch: parity, accumulation, shuffling, early stopping, clipping."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from trainwell.train.callbacks import EarlyStopping, GradientNorm
from trainwell.train.loop import InMemoryData, train
from trainwell.train.state import TrainState


def make_model() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))


def make_data(n: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(n, 6, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 1).long()
    return x, y


def test_loop_matches_a_plain_pytorch_loop_bit_for_bit() -> None:
    x, y = make_data()
    epochs, batch, seed = 3, 16, 7

    ours = make_model()
    opt = torch.optim.AdamW(ours.parameters(), lr=1e-2)
    torch.manual_seed(3)  # dropout draws from the global RNG in both loops
    train(
        ours,
        opt,
        nn.functional.cross_entropy,
        InMemoryData((x,), y, batch, seed=seed),
        max_epochs=epochs,
    )

    plain = make_model()
    opt = torch.optim.AdamW(plain.parameters(), lr=1e-2)
    torch.manual_seed(3)
    for epoch in range(epochs):  # the 15-line loop
        plain.train()
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed + epoch))
        for start in range(0, len(y), batch):
            rows = order[start : start + batch]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(plain(x[rows]), y[rows])
            loss.backward()
            opt.step()

    for (name, a), b in zip(ours.state_dict().items(), plain.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_fits_optimizer_steps_as_torchs_default_adamw_bit_for_bit() -> None:
    from trainwell.config import FitConfig
    from trainwell.trainer import make_optimizer

    x, y = make_data()
    models, optimizers = [], []
    for make in (
        lambda m: make_optimizer([{"params": list(m.parameters()), "lr": 1e-2}], FitConfig()),
        lambda m: torch.optim.AdamW(m.parameters(), lr=1e-2),  # single-tensor on the CPU
    ):
        model = make_model()
        models.append(model)
        optimizers.append(make(model))
    assert optimizers[0].defaults["foreach"] is True
    assert optimizers[1].defaults["foreach"] is None
    for model, opt in zip(models, optimizers, strict=True):
        torch.manual_seed(3)
        train(
            model, opt, nn.functional.cross_entropy, InMemoryData((x,), y, 16, seed=7), max_epochs=3
        )
    ours, plain = (m.state_dict() for m in models)
    for name in ours:
        assert torch.equal(ours[name], plain[name]), name


def test_k_accumulated_batches_equal_one_batch_k_times_larger() -> None:
    x, y = make_data(64)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.LayerNorm(16), nn.Linear(16, 3))
    big, small = copy.deepcopy(model), copy.deepcopy(model)
    for net, batch, k in ((big, 64, 1), (small, 16, 4)):
        opt = torch.optim.SGD(net.parameters(), lr=0.5)
        state = train(
            net,
            opt,
            nn.functional.cross_entropy,
            InMemoryData((x,), y, batch, shuffle=False),
            max_epochs=1,
            accumulate=k,
        )
        assert state.step == 1
    for a, b in zip(big.parameters(), small.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not all(
        torch.equal(a, b) for a, b in zip(model.parameters(), big.parameters(), strict=True)
    )


def test_a_partial_last_accumulation_group_is_averaged_over_its_own_batches() -> None:
    x, y = make_data(48)  # 3 batches of 16 with accumulate=2: steps of 2 and 1 batches
    model = nn.Linear(6, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    state = train(
        model,
        opt,
        nn.functional.cross_entropy,
        InMemoryData((x,), y, 16, shuffle=False),
        max_epochs=1,
        accumulate=2,
    )
    assert state.step == 2


def test_training_data_is_reshuffled_every_epoch_and_replayable() -> None:
    x, y = make_data(32)
    data = InMemoryData((x,), y, 8, seed=5)
    first, second = data.order(0), data.order(1)
    assert not torch.equal(first, second)
    assert torch.equal(first, InMemoryData((x,), y, 8, seed=5).order(0))
    assert sorted(first.tolist()) == list(range(32))


def test_early_stopping_stops_and_restores_the_best_weights() -> None:
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    losses = iter([1.0, 0.5, 0.7, 0.8, 0.9, 0.95])
    weights = []

    def validate(m: nn.Module) -> dict[str, float]:
        with torch.no_grad():
            m.weight.add_(1.0)  # make each epoch's weights distinguishable
        weights.append(m.weight.detach().clone())
        return {"val_loss": next(losses)}

    early = EarlyStopping(patience=3)
    state = train(
        model,
        opt,
        nn.functional.mse_loss,
        InMemoryData((torch.zeros(4, 2),), torch.zeros(4, 1), 4),
        max_epochs=10,
        validate=validate,
        callbacks=[early],
    )
    assert len(state.history) == 5  # best at epoch 2, then 3 epochs without improvement
    assert state.stop
    assert "did not improve for 3 epochs" in state.stop_reason
    assert torch.equal(model.weight, weights[1])


def test_gradient_clipping_bounds_the_update_and_records_the_raw_norm() -> None:
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    x, y = torch.ones(4, 1), torch.full((4, 1), 100.0)
    state = TrainState(model, opt, max_epochs=1)
    train(
        model,
        opt,
        nn.functional.mse_loss,
        InMemoryData((x,), y, 4, shuffle=False),
        max_epochs=1,
        callbacks=[GradientNorm(max_norm=1.0)],
        state=state,
    )
    assert state.grad_norm is not None
    assert float(state.grad_norm) == pytest.approx(200.0)
    assert float(model.weight.detach()) == pytest.approx(1.0)  # clipped to norm 1, lr 1


@pytest.mark.parametrize("mixed", [False, True], ids=["one-group", "mixed-dtypes"])
@pytest.mark.parametrize("max_norm", [0.05, 1e6])
def test_clipping_equals_torch_clip_grad_norm(max_norm: float, mixed: bool) -> None:
    """A clipped (or unclipped) step equals torch.nn.utils.clip_grad_norm_'s bit for bit,
    on the direct path (one device and dtype) and on torch's grouped one (a float64 layer)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 2))
    if mixed:
        net = nn.Sequential(net[0], net[1], _Cast(torch.float64), net[2].double(), _Cast())
    reference = copy.deepcopy(net)
    x, y = torch.randn(16, 5), torch.randn(16, 2)
    for model in (net, reference):
        nn.functional.mse_loss(model(x), y).backward()
    clip = GradientNorm(max_norm=max_norm)
    state = TrainState(net, torch.optim.SGD(net.parameters(), lr=0.1), max_epochs=1)
    clip.on_fit_start(state)
    clip.on_before_optimizer_step(state)
    assert clip._one_group is (not mixed)
    expected = nn.utils.clip_grad_norm_(reference.parameters(), max_norm)
    assert state.grad_norm is not None
    assert torch.equal(state.grad_norm, expected)
    for ours, theirs in zip(net.parameters(), reference.parameters(), strict=True):
        assert ours.grad is not None
        assert theirs.grad is not None
        assert torch.equal(ours.grad, theirs.grad)


class _Cast(nn.Module):
    def __init__(self, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.dtype)
