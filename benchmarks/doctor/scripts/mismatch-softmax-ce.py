"""Output/loss mismatch (TW-A06): softmax in the model, then CrossEntropyLoss (softmax twice).
Fixed: the model returns logits."""

import torch
from _common import FIXED, blobs, fit, loaders, mlp, seed
from torch import nn

seed()
x, y = blobs()
train, valid = loaders(x, y)
model = mlp(20, 4) if FIXED else nn.Sequential(mlp(20, 4), nn.Softmax(dim=1))
fit(
    model, torch.optim.Adam(model.parameters(), 1e-3), nn.CrossEntropyLoss(), train, valid, epochs=3
)
