"""Validation far better than training (TW-D06): validation comes from a cleaned, easier
sample with verified labels, training from raw labels of which 40 % are wrong.
Fixed: validation drawn from the same distribution as training."""

import torch
from _common import FIXED, blobs, fit, seed
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

seed()
x, y = blobs(n=2000, noise=1.0)
g = torch.Generator().manual_seed(3)
flip = torch.rand(len(y), generator=g) < 0.4
y_noisy = torch.where(flip, torch.randint(0, 4, (len(y),), generator=g), y)
xt, yt = x[400:], y_noisy[400:]
xv, yv = (x[:400], y_noisy[:400]) if FIXED else (x[:400], y[:400])
train = DataLoader(TensorDataset(xt, yt), batch_size=32, shuffle=True)
valid = DataLoader(TensorDataset(xv, yv), batch_size=256)
model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 4))
fit(
    model, torch.optim.Adam(model.parameters(), 1e-3), nn.CrossEntropyLoss(), train, valid, epochs=6
)
