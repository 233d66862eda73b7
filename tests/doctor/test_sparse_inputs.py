"""A model fed sparse tensors (pytorch/examples' gcn: a sparse feature matrix and a sparse
adjacency) trains under the doctor as without it; dense inputs are still judged."""

from __future__ import annotations

import torch
from torch import nn

from tests.doctor.conftest import blobs, ids
from trainwell import doctor


class _GraphConv(nn.Module):
    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.kernel = nn.Parameter(torch.randn(d_in, d_out) * 0.1)

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        return torch.spmm(adj, torch.mm(x, self.kernel))


def _train(x: torch.Tensor, adj: torch.Tensor, y: torch.Tensor, watched: bool) -> tuple:
    torch.manual_seed(0)
    layer = _GraphConv(x.shape[1], 3)
    opt = torch.optim.Adam(layer.parameters(), 0.01)
    losses = []
    with doctor.watch(layer, opt) if watched else _Off() as dr:
        for _ in range(5):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(layer(x, adj), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return losses, layer.kernel.detach().clone(), dr


class _Off:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _graph(scale: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x, y = blobs(n=64)
    adj = (torch.eye(64) + torch.diag(torch.ones(63), 1)).to_sparse() * 0.5
    return x * scale, adj, y


def test_sparse_features_train_as_without_the_doctor() -> None:
    x, adj, y = _graph(100.0)
    plain_losses, plain_kernel, _ = _train(x.to_sparse(), adj, y, watched=False)
    losses, kernel, dr = _train(x.to_sparse(), adj, y, watched=True)
    assert losses == plain_losses
    assert torch.equal(kernel, plain_kernel)
    assert "inputs-not-normalized" not in ids(dr)  # a sparse input is not read


def test_dense_features_are_still_judged() -> None:
    x, adj, y = _graph(100.0)
    _, _, dr = _train(x, adj, y, watched=True)
    assert "inputs-not-normalized" in ids(dr)
