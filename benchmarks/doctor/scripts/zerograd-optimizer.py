"""Parameters not held by the optimizer (TW-X08): the optimizer is built from the head only
(left over from a fine-tuning experiment). Fixed: model.parameters()."""

import torch
from _common import FIXED, blobs, fit, loaders, mlp, seed
from torch import nn

seed()
x, y = blobs()
train, valid = loaders(x, y)
model = mlp(20, 4)
params = model.parameters() if FIXED else model[-1].parameters()
fit(model, torch.optim.Adam(params, 1e-3), nn.CrossEntropyLoss(), train, valid, epochs=3)
