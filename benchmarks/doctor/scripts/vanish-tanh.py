"""Saturated tanh units (TW-X04): a tanh MLP whose first layer is initialized 20x too large,
so pre-activations sit far in the flat tails. Fixed: default init."""

import torch
from _common import FIXED, blobs, fit, loaders, mlp, seed
from torch import nn

seed()
x, y = blobs()
train, valid = loaders(x, y)
model = mlp(20, 4, hidden=64, depth=3, act=nn.Tanh)
if not FIXED:
    with torch.no_grad():
        for m in list(model)[:-1]:
            if isinstance(m, nn.Linear):
                m.weight.mul_(20.0)
fit(
    model, torch.optim.Adam(model.parameters(), 1e-3), nn.CrossEntropyLoss(), train, valid, epochs=4
)
