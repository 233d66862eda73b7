"""The label-order check (TW-D12) on batches a DataLoader draws: a random sampler's batches are
shuffled whatever their targets look like (a GAN's real/fake targets are constant within each
loss call by design), while sorted data and a class-grouping batch sampler are still reported."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from tests.doctor.conftest import blobs, ids, mlp
from trainwell import doctor
from trainwell.doctor.loss_probe import draws_in_random_order


def _sorted_blobs() -> TensorDataset:
    x, y = blobs()
    order = torch.argsort(y, stable=True)
    return TensorDataset(x[order], y[order])


def _gan_style(shuffle: bool) -> set[str]:
    """dcgan's loop in small: a discriminator scored on real rows (target 1) and on generated
    rows (target 0), then the generator trained against target 1; BCELoss on a sigmoid."""
    data = _sorted_blobs()
    disc = nn.Sequential(mlp(k=1), nn.Sigmoid())
    gen = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 8))
    opt_d = torch.optim.Adam(disc.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(gen.parameters(), 2e-4, betas=(0.5, 0.999))
    criterion = nn.BCELoss()
    with doctor.watch(disc, opt_d) as dr:
        for real, _ in DataLoader(data, batch_size=16, shuffle=shuffle):
            disc.zero_grad()
            label = torch.full((len(real),), 1.0)
            criterion(disc(real).squeeze(1), label).backward()
            fake = gen(torch.randn(len(real), 4))
            label.fill_(0.0)
            criterion(disc(fake.detach()).squeeze(1), label).backward()
            opt_d.step()
            gen.zero_grad()
            label.fill_(1.0)
            criterion(disc(fake).squeeze(1), label).backward()
            opt_g.step()
    return ids(dr)


def _classify(loader: DataLoader) -> set[str]:
    model = mlp()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    with doctor.watch(model, opt) as dr:
        for x, y in loader:
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    return ids(dr)


def test_constant_targets_from_a_shuffled_loader_are_not_unshuffled_data() -> None:
    assert "batches-not-shuffled" not in _gan_style(shuffle=True)


def test_sorted_data_from_an_unshuffled_loader_is_reported() -> None:
    assert "batches-not-shuffled" in _classify(DataLoader(_sorted_blobs(), batch_size=16))
    shuffled = DataLoader(_sorted_blobs(), batch_size=16, shuffle=True)
    assert "batches-not-shuffled" not in _classify(shuffled)


def test_a_batch_sampler_grouping_classes_is_reported() -> None:
    """A custom batch sampler decides the order itself: one class per batch is still found."""
    data = _sorted_blobs()
    groups = [list(range(i, min(i + 16, len(data)))) for i in range(0, len(data), 16)]
    order = torch.randperm(len(groups)).tolist()  # batches in random order, each one class
    loader = DataLoader(data, batch_sampler=[groups[i] for i in order])
    assert not draws_in_random_order(loader)
    assert "batches-not-shuffled" in _classify(loader)


def test_which_samplers_draw_in_random_order() -> None:
    data = TensorDataset(torch.arange(8))
    shuffled = DistributedSampler(data, num_replicas=1, rank=0, shuffle=True)
    in_order = DistributedSampler(data, num_replicas=1, rank=0, shuffle=False)
    assert draws_in_random_order(DataLoader(data, sampler=shuffled))
    assert not draws_in_random_order(DataLoader(data, sampler=in_order))
    assert draws_in_random_order(DataLoader(data, batch_size=None, shuffle=True))
    assert not draws_in_random_order(DataLoader(data, batch_size=None))
