"""Learning rate too low (TW-X06): Adam at lr=1e-7 on an LSTM. Fixed: lr=3e-3."""

import torch
from _common import FIXED, fit, loaders, seed, sequences
from torch import nn

seed()
x, y = sequences()
train, valid = loaders(x, y)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(6, 32, batch_first=True)
        self.head = nn.Linear(32, 3)

    def forward(self, x):
        return self.head(self.lstm(x)[0][:, -1])


model = Net()
opt = torch.optim.Adam(model.parameters(), lr=3e-3 if FIXED else 1e-7)
fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=6)
