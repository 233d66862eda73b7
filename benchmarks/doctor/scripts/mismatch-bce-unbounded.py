"""Output/loss mismatch (TW-A06): BCELoss on the raw linear output (PyTorch raises once a
value leaves [0, 1]). Fixed: BCEWithLogitsLoss."""

import torch
from _common import FIXED, blobs, fit, loaders, mlp, seed
from torch import nn

seed()
x, y = blobs(k=2)
train, valid = loaders(x, y.float().unsqueeze(1))
model = mlp(20, 1)
loss_fn = nn.BCEWithLogitsLoss() if FIXED else nn.BCELoss()
fit(model, torch.optim.Adam(model.parameters(), 1e-3), loss_fn, train, valid, epochs=3)
