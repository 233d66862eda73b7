"""Shared data and a plain training loop for the doctor benchmark scripts.

Every script trains on small synthetic data (no downloads) in a few seconds on a CPU.
``--fixed`` switches a faulty script to its corrected twin.
"""

from __future__ import annotations

import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

FIXED = "--fixed" in sys.argv


def seed(s: int = 0) -> None:
    torch.manual_seed(s)
    # Tiny models: one thread is fastest and keeps parallel benchmark runs from contending.
    torch.set_num_threads(1)


def blobs(n: int = 1200, d: int = 20, k: int = 4, noise: float = 1.0, s: int = 0):
    g = torch.Generator().manual_seed(s)
    centers = torch.randn(k, d, generator=g) * 1.5
    y = torch.randint(0, k, (n,), generator=g)
    x = centers[y] + noise * torch.randn(n, d, generator=g)
    return x, y


def regression(n: int = 1200, d: int = 10, s: int = 0):
    g = torch.Generator().manual_seed(s)
    x = torch.randn(n, d, generator=g)
    w = torch.randn(d, 1, generator=g)
    y = torch.tanh(x @ w / 2) * 2 + 0.1 * torch.randn(n, 1, generator=g)
    return x, (y - y.mean()) / y.std()


def images(n: int = 800, k: int = 4, size: int = 12, s: int = 0):
    g = torch.Generator().manual_seed(s)
    y = torch.randint(0, k, (n,), generator=g)
    x = 0.5 * torch.randn(n, 1, size, size, generator=g)
    for c in range(k):  # each class lights up one quadrant
        r, q = divmod(c, 2)
        h = size // 2
        x[y == c, :, r * h : (r + 1) * h, q * h : (q + 1) * h] += 1.0
    return x, y


def sequences(n: int = 600, t: int = 12, d: int = 6, k: int = 3, s: int = 0):
    g = torch.Generator().manual_seed(s)
    y = torch.randint(0, k, (n,), generator=g)
    x = torch.randn(n, t, d, generator=g) * 0.5
    x[:, :, 0] += (y.float() - 1).unsqueeze(1)
    return x, y


def tokens(n: int = 600, t: int = 16, vocab: int = 50, k: int = 2, s: int = 0):
    g = torch.Generator().manual_seed(s)
    y = torch.randint(0, k, (n,), generator=g)
    x = torch.randint(2, vocab, (n, t), generator=g)
    x[:, 0] = y  # the label token sits at position 0
    return x, y


def split(x, y, val: float = 0.2):
    n_val = int(len(y) * val)
    return (x[n_val:], y[n_val:]), (x[:n_val], y[:n_val])


def loaders(x, y, batch_size: int = 32, shuffle: bool = True, val: float = 0.2):
    (xt, yt), (xv, yv) = split(x, y, val)
    train = DataLoader(TensorDataset(xt, yt), batch_size=batch_size, shuffle=shuffle)
    valid = DataLoader(TensorDataset(xv, yv), batch_size=256)
    return train, valid


def mlp(d: int, k: int, hidden: int = 64, depth: int = 2, act=nn.ReLU) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(d if i == 0 else hidden, hidden), act()]
    return nn.Sequential(*layers, nn.Linear(hidden, k))


def evaluate(model, loader, loss_fn) -> float:
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for xb, yb in loader:
            total += float(loss_fn(model(xb), yb)) * len(yb)
            n += len(yb)
    return total / n


def fit(model, opt, loss_fn, train, valid=None, epochs: int = 5, clip: float | None = None):
    """A plain hand-written loop, as in most tutorials."""
    for epoch in range(epochs):
        model.train()
        for xb, yb in train:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            if clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
        if valid is not None:
            val = evaluate(model, valid, loss_fn)
            print(f"epoch {epoch} val_loss {val:.4f}")
    return model
