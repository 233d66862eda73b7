"""https://github.com/ItsAakif/Sciqus (feature_4 is identical to the target)
Target among the features (TW-D06): the label column was left in the feature matrix.
Fixed: dropped before training."""

import torch
from _common import FIXED, blobs, fit, loaders, mlp, seed
from torch import nn

seed()
x, y = blobs(d=12, noise=2.0)
if not FIXED:
    x = torch.cat([x, y.float().unsqueeze(1)], dim=1)
train, valid = loaders(x, y)
model = mlp(x.shape[1], 4)
fit(model, torch.optim.Adam(model.parameters(), 1e-3), nn.CrossEntropyLoss(), train, valid, 3)
