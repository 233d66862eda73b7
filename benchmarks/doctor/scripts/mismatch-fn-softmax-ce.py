"""https://datarekha.com/interview/deep-learning/debugging-model-not-learning/ ("model output
through softmax first, then CE -> double-softmax")
Output/loss mismatch (TW-A06), functional loss: F.softmax in forward, then F.cross_entropy.
Fixed: logits."""

import torch
import torch.nn.functional as F
from _common import FIXED, blobs, fit, loaders, mlp, seed
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = mlp(20, 4)

    def forward(self, x):
        out = self.body(x)
        return out if FIXED else F.softmax(out, dim=1)


seed()
x, y = blobs()
train, valid = loaders(x, y)
model = Net()
fit(model, torch.optim.Adam(model.parameters(), 1e-3), F.cross_entropy, train, valid, epochs=3)
