"""Stopped at the first epochs (TW-T04): early stopping with patience 0 and a learning rate
high enough to make validation loss bounce: the run ends within
the first epochs.
Fixed: patience 5 and a lower learning rate."""

import torch
from _common import FIXED, blobs, evaluate, loaders, mlp, seed
from torch import nn

seed()
x, y = blobs(noise=2.0)
train, valid = loaders(x, y)
model = mlp(20, 4, hidden=128)
opt = torch.optim.SGD(model.parameters(), lr=0.02 if FIXED else 0.15, momentum=0.9)
loss_fn = nn.CrossEntropyLoss()
patience = 5 if FIXED else 0
best, bad = float("inf"), 0
for _epoch in range(30):
    model.train()
    for xb, yb in train:
        opt.zero_grad()
        loss_fn(model(xb), yb).backward()
        opt.step()
    val = evaluate(model, valid, loss_fn)
    best, bad = (val, 0) if val < best else (best, bad + 1)
    if bad > patience:
        break
