"""Parameters never get a gradient (TW-X08): the encoder output is detached, so the encoder
never trains. Fixed: no detach."""

import torch
from _common import FIXED, blobs, fit, loaders, seed
from torch import nn

seed()
x, y = blobs()
train, valid = loaders(x, y)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(20, 64), nn.ReLU())
        self.head = nn.Linear(64, 4)

    def forward(self, x):
        h = self.encoder(x)
        return self.head(h if FIXED else h.detach())


model = Net()
fit(
    model, torch.optim.Adam(model.parameters(), 1e-3), nn.CrossEntropyLoss(), train, valid, epochs=3
)
