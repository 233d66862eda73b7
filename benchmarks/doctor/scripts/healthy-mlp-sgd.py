"""Healthy: deeper MLP with BatchNorm, SGD + momentum, cosine schedule, no validation."""

import torch
from _common import blobs, loaders, seed
from torch import nn

seed()
x, y = blobs(k=6, noise=1.2)
train, _ = loaders(x, y)
model = nn.Sequential(
    nn.Linear(20, 128),
    nn.BatchNorm1d(128),
    nn.ReLU(),
    nn.Linear(128, 128),
    nn.BatchNorm1d(128),
    nn.ReLU(),
    nn.Linear(128, 64),
    nn.ReLU(),
    nn.Linear(64, 6),
)
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=8 * len(train))
loss_fn = nn.CrossEntropyLoss()
for _epoch in range(8):
    model.train()
    for xb, yb in train:
        opt.zero_grad()
        loss_fn(model(xb), yb).backward()
        opt.step()
        sched.step()
