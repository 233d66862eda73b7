"""Stopped at the first epochs (TW-T04): early stopping that ends at the first epoch without
improvement (patience 1) and a learning rate high enough to make validation loss bounce: the
run ends within the first epochs.
Fixed: patience 6 and a lower learning rate."""

import torch
from _common import FIXED, blobs, fit, loaders, mlp, seed
from torch import nn

seed()
x, y = blobs(noise=2.0)
train, valid = loaders(x, y)
model = mlp(20, 4, hidden=128)
opt = torch.optim.SGD(model.parameters(), lr=0.02 if FIXED else 0.15, momentum=0.9)
fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=30, patience=6 if FIXED else 1)
