"""Exploding gradients (TW-X03): a vanilla RNN on long sequences with a recurrent matrix
initialized too large. Fixed: orthogonal recurrent init and gradient clipping."""

import torch
from _common import FIXED, fit, loaders, seed, sequences
from torch import nn

seed()
x, y = sequences(t=40)
train, valid = loaders(x, y)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(6, 32, batch_first=True)
        self.head = nn.Linear(32, 3)
        with torch.no_grad():
            if FIXED:
                nn.init.orthogonal_(self.rnn.weight_hh_l0)
            else:
                self.rnn.weight_hh_l0.normal_(0, 0.6)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


model = Net()
opt = torch.optim.SGD(model.parameters(), lr=0.05)
fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=3, clip=1.0 if FIXED else None)
