"""Learning rate too low (TW-X06): SGD at lr=1e-6. Fixed: lr=0.05 with momentum."""

import torch
from _common import FIXED, blobs, fit, loaders, mlp, seed
from torch import nn

seed()
x, y = blobs()
train, valid = loaders(x, y)
model = mlp(20, 4)
opt = torch.optim.SGD(model.parameters(), lr=0.05 if FIXED else 1e-6, momentum=0.9)
fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=4)
