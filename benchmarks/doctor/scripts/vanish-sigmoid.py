"""Vanishing gradients (TW-X04): a 10-layer sigmoid MLP. Fixed: ReLU hidden layers."""

import torch
from _common import FIXED, blobs, fit, loaders, mlp, seed
from torch import nn

seed()
x, y = blobs()
train, valid = loaders(x, y)
model = mlp(20, 4, hidden=64, depth=10, act=nn.ReLU if FIXED else nn.Sigmoid)
fit(
    model,
    torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
    nn.CrossEntropyLoss(),
    train,
    valid,
    epochs=4,
)
