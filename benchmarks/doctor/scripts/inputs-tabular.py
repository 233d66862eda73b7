"""Unnormalized inputs (TW-D08): tabular features in their raw units (incomes in the
thousands next to ratios). Fixed: StandardScaler-style standardization on the training split."""

import torch
from _common import FIXED, blobs, fit, loaders, mlp, seed
from torch import nn

seed()
x, y = blobs(d=8)
x = x * torch.tensor([1000.0, 50.0, 1.0, 0.01, 300.0, 1.0, 20.0, 1.0]) + 40.0
if FIXED:
    mean, std = x[240:].mean(0), x[240:].std(0)  # training rows only
    x = (x - mean) / std
train, valid = loaders(x, y)
model = mlp(8, 4)
fit(
    model, torch.optim.Adam(model.parameters(), 1e-3), nn.CrossEntropyLoss(), train, valid, epochs=3
)
