"""https://datascience.stackexchange.com/questions/10547/how-important-is-the-balance-between-the-components-of-a-loss-value
Weight decay too strong (TW-T05): SGD(lr=0.1, weight_decay=0.5) shrinks every weight by 5 %
per step, which outweighs the data gradient. Fixed: weight_decay=5e-4."""

import torch
from _common import FIXED, blobs, fit, loaders, mlp, seed
from torch import nn

seed()
x, y = blobs()
train, valid = loaders(x, y)
model = mlp(20, 4)
opt = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=5e-4 if FIXED else 0.5)
fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=5)
