"""Healthy: small CNN with BatchNorm, AdamW, validation every epoch."""

import torch
from _common import evaluate, images, loaders, seed
from torch import nn

seed()
x, y = images(n=1000)
train, valid = loaders(x, y)
model = nn.Sequential(
    nn.Conv2d(1, 16, 3, padding=1),
    nn.BatchNorm2d(16),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Conv2d(16, 32, 3, padding=1),
    nn.BatchNorm2d(32),
    nn.ReLU(),
    nn.AdaptiveAvgPool2d(2),
    nn.Flatten(),
    nn.Linear(128, 4),
)
opt = torch.optim.AdamW(model.parameters(), 1e-3, weight_decay=1e-2)
loss_fn = nn.CrossEntropyLoss()
for _epoch in range(5):
    model.train()
    for xb, yb in train:
        opt.zero_grad()
        loss_fn(model(xb), yb).backward()
        opt.step()
    evaluate(model, valid, loss_fn)
