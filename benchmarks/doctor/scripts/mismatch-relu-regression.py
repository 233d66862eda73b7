"""Output/loss mismatch (TW-A06): a ReLU on the output of a regression model whose
standardized target is half negative. Fixed: linear output."""

import torch
from _common import FIXED, fit, loaders, mlp, regression, seed
from torch import nn

seed()
x, y = regression()
train, valid = loaders(x, y)
model = mlp(10, 1) if FIXED else nn.Sequential(mlp(10, 1), nn.ReLU())
fit(model, torch.optim.Adam(model.parameters(), 1e-3), nn.MSELoss(), train, valid, epochs=4)
