"""Stopped while still improving (TW-T04): a fixed budget of 3 epochs at a small learning
rate ends while validation loss is still falling fast. Fixed: 30 epochs with early stopping."""

import torch
from _common import FIXED, blobs, fit, loaders, mlp, seed
from torch import nn

seed()
x, y = blobs(noise=2.0)
train, valid = loaders(x, y)
model = mlp(20, 4)
opt = torch.optim.Adam(model.parameters(), 1e-4 if not FIXED else 1e-3)
epochs = 30 if FIXED else 3
fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs, patience=3, min_delta=1e-3)
