"""Exploding gradients (TW-X03): a regression on raw targets in the thousands; the MSE
gradient is huge and SGD's steps overshoot further every step. Fixed: standardized targets
and gradient clipping."""

import torch
from _common import FIXED, fit, loaders, mlp, regression, seed
from torch import nn

seed()
x, y = regression()
y = y * 800 + 3000 if not FIXED else y
train, valid = loaders(x, y)
model = mlp(10, 1, depth=3)
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
fit(model, opt, nn.MSELoss(), train, valid, epochs=3, clip=1.0 if FIXED else None)
