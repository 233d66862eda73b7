"""Healthy: MLP regression with MSE, tanh hidden layer, Adam, validation."""

import torch
from _common import evaluate, loaders, regression, seed
from torch import nn

seed()
x, y = regression()
train, valid = loaders(x, y)
model = nn.Sequential(nn.Linear(10, 64), nn.Tanh(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
opt = torch.optim.Adam(model.parameters(), 1e-3)
loss_fn = nn.MSELoss()
for _epoch in range(8):
    model.train()
    for xb, yb in train:
        opt.zero_grad()
        loss_fn(model(xb), yb).backward()
        opt.step()
    evaluate(model, valid, loss_fn)
