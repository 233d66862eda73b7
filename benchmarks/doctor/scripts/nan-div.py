"""NaN (TW-X02): inputs standardized inside the model by the batch std of a constant feature:
0/0. Fixed: an epsilon in the denominator."""

import torch
from _common import FIXED, blobs, fit, loaders, seed
from torch import nn

seed()
x, y = blobs()
x[:, 3] = 1.0  # a constant column
train, valid = loaders(x, y)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 4))

    def forward(self, x):
        eps = 1e-6 if FIXED else 0.0
        return self.body((x - x.mean(0)) / (x.std(0) + eps))


model = Net()
fit(
    model, torch.optim.Adam(model.parameters(), 1e-3), nn.CrossEntropyLoss(), train, valid, epochs=3
)
