"""Unshuffled data (TW-D12): a regression table sorted by its target (as exported from a
spreadsheet) and read in order. Fixed: shuffle=True."""

import torch
from _common import FIXED, fit, mlp, regression, seed
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

seed()
x, y = regression()
xv, yv, xt, yt = x[:240], y[:240], x[240:], y[240:]
order = torch.argsort(yt[:, 0])
xt, yt = xt[order], yt[order]
train = DataLoader(TensorDataset(xt, yt), batch_size=32, shuffle=FIXED)
valid = DataLoader(TensorDataset(xv, yv), batch_size=256)
model = mlp(10, 1)
fit(model, torch.optim.Adam(model.parameters(), 1e-3), nn.MSELoss(), train, valid, epochs=4)
