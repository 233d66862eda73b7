"""https://datarekha.com/interview/deep-learning/debugging-model-not-learning/ ("DataLoader
accidentally shuffling labels but not inputs")
Labels do not belong to their inputs (TW-X09): the inputs are shuffled with one permutation and
the labels with another. Fixed: one permutation for both."""

import torch
from _common import FIXED, blobs, fit, loaders, mlp, seed
from torch import nn

seed()
x, y = blobs()
perm = torch.randperm(len(y))
x = x[perm]
y = y[perm] if FIXED else y[torch.randperm(len(y))]
train, valid = loaders(x, y)
model = mlp(20, 4)
fit(model, torch.optim.Adam(model.parameters(), 1e-3), nn.CrossEntropyLoss(), train, valid, 6)
