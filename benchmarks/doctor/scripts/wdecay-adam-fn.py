"""https://datascience.stackexchange.com/questions/10547/how-important-is-the-balance-between-the-components-of-a-loss-value
Weight decay too strong (TW-T05), functional loss: Adam's coupled L2 with weight_decay=0.5
drives the weights to zero. Fixed: weight_decay=1e-4."""

import torch
import torch.nn.functional as F
from _common import FIXED, blobs, fit, loaders, mlp, seed

seed()
x, y = blobs(noise=1.5)
train, valid = loaders(x, y)
model = mlp(20, 4)
opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4 if FIXED else 0.5)
fit(model, opt, F.cross_entropy, train, valid, epochs=5)
