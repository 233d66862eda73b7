"""Dead ReLUs (TW-X04): hidden biases initialized to -5 switch every unit off.
Fixed: zero biases."""

import torch
from _common import FIXED, blobs, fit, loaders, mlp, seed
from torch import nn

seed()
x, y = blobs()
train, valid = loaders(x, y)
model = mlp(20, 4, hidden=64, depth=3)
with torch.no_grad():
    for m in list(model)[:-1]:
        if isinstance(m, nn.Linear):
            m.bias.fill_(0.0 if FIXED else -5.0)
fit(
    model, torch.optim.Adam(model.parameters(), 1e-3), nn.CrossEntropyLoss(), train, valid, epochs=4
)
