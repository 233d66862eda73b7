"""https://m.jb51.cc/faq/1816202.html (softmax in a batch does not sum to 1: nn.Softmax(dim=0))
Softmax over the batch (TW-A06): nn.Softmax(dim=0) normalizes each class over the samples, then
log + NLLLoss. Fixed: nn.LogSoftmax(dim=1)."""

import torch
from _common import FIXED, blobs, fit, loaders, mlp, seed
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = mlp(20, 4)
        self.out = nn.LogSoftmax(dim=1) if FIXED else nn.Softmax(dim=0)

    def forward(self, x):
        p = self.out(self.body(x))
        return p if FIXED else torch.log(p)


seed()
x, y = blobs()
train, valid = loaders(x, y)
model = Net()
fit(model, torch.optim.Adam(model.parameters(), 1e-3), nn.NLLLoss(), train, valid, epochs=3)
