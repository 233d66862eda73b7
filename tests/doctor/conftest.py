"""Shared fixtures for the doctor tests: fixed seeds, tiny data, a plain training loop."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch
from torch import nn

from trainwell import doctor
from trainwell.doctor import Doctor


@pytest.fixture(autouse=True)
def _seed() -> Iterator[None]:
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is the fastest
    yield
    torch.set_num_threads(threads)


def blobs(n: int = 256, d: int = 8, k: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(k, d, generator=g) * 2
    y = torch.randint(0, k, (n,), generator=g)
    return centers[y] + torch.randn(n, d, generator=g), y


def mlp(d: int = 8, k: int = 3, hidden: int = 32, act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(d, hidden), act(), nn.Linear(hidden, hidden), act(), nn.Linear(hidden, k)
    )


Step = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def run(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss_fn: Callable[..., torch.Tensor] | None = None,
    opt: torch.optim.Optimizer | None = None,
    steps: int = 40,
    batch: int = 32,
    shuffle: bool = True,
    forward: Step | None = None,
) -> Doctor:
    """Train under ``doctor.watch`` and return the doctor (findings included)."""
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    opt = opt or torch.optim.Adam(model.parameters(), 1e-3)
    g = torch.Generator().manual_seed(1)
    with doctor.watch(model, opt) as dr:
        i = 0
        while i < steps:
            order = torch.randperm(len(y), generator=g) if shuffle else torch.arange(len(y))
            for start in range(0, len(y) - batch + 1, batch):
                rows = order[start : start + batch]
                opt.zero_grad()
                out = forward(model, x[rows], y[rows]) if forward else model(x[rows])
                loss_fn(out, y[rows]).backward()
                opt.step()
                i += 1
                if i == steps:
                    break
    return dr


def ids(dr: Doctor) -> set[str]:
    return {f.id for f in dr.findings}
