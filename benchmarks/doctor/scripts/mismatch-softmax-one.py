"""Output/loss mismatch (TW-A06): a softmax over a single output unit (always 1.0) fed to
BCELoss; nothing can be learned. Fixed: sigmoid."""

import torch
from _common import FIXED, blobs, fit, loaders, mlp, seed
from torch import nn

seed()
x, y = blobs(k=2)
train, valid = loaders(x, y.float().unsqueeze(1))
model = nn.Sequential(mlp(20, 1), nn.Sigmoid() if FIXED else nn.Softmax(dim=1))
fit(model, torch.optim.Adam(model.parameters(), 1e-3), nn.BCELoss(), train, valid, epochs=3)
