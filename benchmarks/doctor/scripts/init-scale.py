"""Bad initialization (TW-A07): the output layer's weights are scaled up 30x, so the initial
loss is far above ln K. Fixed: default init."""

import torch
from _common import FIXED, blobs, fit, loaders, mlp, seed
from torch import nn

seed()
x, y = blobs()
train, valid = loaders(x, y)
model = mlp(20, 4)
if not FIXED:
    with torch.no_grad():
        model[-1].weight.mul_(30.0)
fit(
    model, torch.optim.Adam(model.parameters(), 1e-3), nn.CrossEntropyLoss(), train, valid, epochs=3
)
