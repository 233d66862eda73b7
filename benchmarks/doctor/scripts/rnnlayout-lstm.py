"""https://discuss.pytorch.org/t/lstm-change-batch-first-true-loss-does-not-decrease/62364
RNN layout (TW-A06): (batch, time, feature) data into an LSTM built without batch_first, so it
runs across the samples of each batch. Fixed: batch_first=True."""

import torch
from _common import FIXED, fit, loaders, seed, sequences
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(6, 32, batch_first=FIXED)
        self.head = nn.Linear(32, 3)

    def forward(self, x):
        return self.head(self.lstm(x)[0][:, -1])


seed()
x, y = sequences()
train, valid = loaders(x, y)
model = Net()
opt = torch.optim.Adam(model.parameters(), 3e-3)
fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=4)
