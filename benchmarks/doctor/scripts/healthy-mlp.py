"""Healthy: MLP classifier, Adam, dropout, early stopping."""

import torch
from _common import blobs, evaluate, loaders, seed
from torch import nn

seed()
x, y = blobs(noise=1.5)
train, valid = loaders(x, y)
model = nn.Sequential(
    nn.Linear(20, 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 4)
)
opt = torch.optim.Adam(model.parameters(), 1e-3)
loss_fn = nn.CrossEntropyLoss()
best, bad = float("inf"), 0
for _epoch in range(30):
    model.train()
    for xb, yb in train:
        opt.zero_grad()
        loss_fn(model(xb), yb).backward()
        opt.step()
    val = evaluate(model, valid, loss_fn)
    best, bad = (val, 0) if val < best - 1e-4 else (best, bad + 1)
    if bad >= 3:
        break
