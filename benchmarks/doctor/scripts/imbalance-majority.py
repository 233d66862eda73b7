"""https://datascience.stackexchange.com/questions/19283/why-mlp-only-learns-bias-for-unbalanced-binary-classification
Class imbalance (TW-D11): 90 % negatives and weak features; the MLP learns only the bias and
predicts the majority class. Fixed: a WeightedRandomSampler draws balanced batches."""

import torch
from _common import FIXED, fit, mlp, seed
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, WeightedRandomSampler

seed()
LR = 0.05
g = torch.Generator().manual_seed(0)
n = 2000
y = (torch.rand(n, generator=g) < 0.1).long()
x = torch.randn(n, 10, generator=g)
x[:, 0] += 1.5 * y
ds = TensorDataset(x, y)
if FIXED:
    w = torch.where(y == 1, 1.0 / y.float().mean(), 1.0 / (1 - y.float().mean()))
    train = DataLoader(ds, batch_size=32, sampler=WeightedRandomSampler(w, n, generator=g))
else:
    train = DataLoader(ds, batch_size=32, shuffle=True)
model = mlp(10, 2, hidden=16)
fit(model, torch.optim.SGD(model.parameters(), lr=LR), nn.CrossEntropyLoss(), train, epochs=4)
