"""Bad initialization (TW-A07): logits are multiplied by a temperature of 40 in forward.
Fixed: no temperature."""

import torch
from _common import FIXED, fit, loaders, seed, sequences
from torch import nn

seed()
x, y = sequences()
train, valid = loaders(x, y)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(6, 32, batch_first=True)
        self.head = nn.Linear(32, 3)

    def forward(self, x):
        logits = self.head(self.gru(x)[0][:, -1])
        return logits if FIXED else logits * 40.0


model = Net()
fit(
    model, torch.optim.Adam(model.parameters(), 1e-3), nn.CrossEntropyLoss(), train, valid, epochs=3
)
