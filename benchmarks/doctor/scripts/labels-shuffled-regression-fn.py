"""https://lynx-cortex.pages.dev/phase-12-corpus-design/break/00-break-shuffle-labels/
Labels do not belong to their inputs (TW-X09), functional regression loss: the targets are
permuted on their own (F.mse_loss). Fixed: inputs and targets permuted together."""

import torch
import torch.nn.functional as F
from _common import FIXED, fit, loaders, mlp, regression, seed

seed()
x, y = regression()
perm = torch.randperm(len(y))
x, y = x[perm], (y[perm] if FIXED else y[torch.randperm(len(y))])
train, valid = loaders(x, y)
model = mlp(10, 1, hidden=32)
fit(model, torch.optim.Adam(model.parameters(), 1e-3), F.mse_loss, train, valid, epochs=6)
