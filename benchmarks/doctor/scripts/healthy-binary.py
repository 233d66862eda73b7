"""Healthy: binary classifier with BCEWithLogitsLoss and a functional loss for validation."""

import torch
from _common import blobs, loaders, seed
from torch import nn

seed()
x, y = blobs(k=2, noise=2.0)
train, valid = loaders(x, y.float().unsqueeze(1))
model = nn.Sequential(nn.Linear(20, 64), nn.GELU(), nn.Linear(64, 1))
opt = torch.optim.Adam(model.parameters(), 1e-3)
loss_fn = nn.BCEWithLogitsLoss()
for _epoch in range(6):
    model.train()
    for xb, yb in train:
        opt.zero_grad()
        loss_fn(model(xb), yb).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        for xb, yb in valid:
            nn.functional.binary_cross_entropy_with_logits(model(xb), yb)
