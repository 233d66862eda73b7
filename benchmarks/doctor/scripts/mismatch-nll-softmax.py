"""https://runebook.dev/en/docs/pytorch/generated/torch.nn.nllloss/torch.nn.NLLLoss (NLLLoss
expects log-probabilities)
Output/loss mismatch (TW-A06): softmax probabilities into NLLLoss give a negative loss; the
doctor must name the mismatch, not a divergence of a curve below zero. Fixed: LogSoftmax."""

import torch
from _common import FIXED, blobs, fit, loaders, mlp, seed
from torch import nn

seed()
x, y = blobs()
train, valid = loaders(x, y)
model = nn.Sequential(mlp(20, 4), nn.LogSoftmax(dim=1) if FIXED else nn.Softmax(dim=1))
fit(model, torch.optim.Adam(model.parameters(), 1e-3), nn.NLLLoss(), train, valid, epochs=4)
