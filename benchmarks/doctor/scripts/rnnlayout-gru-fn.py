"""https://theneuralbase.com/pytorch/learn/intermediate/input-shape-for-rnns-seq-batch-features/
RNN layout (TW-A06), functional loss: a GRU without batch_first gets DataLoader batches shaped
(batch, time, feature); F.cross_entropy. Fixed: batch_first=True."""

import torch
import torch.nn.functional as F
from _common import FIXED, fit, loaders, seed, sequences
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(6, 32, batch_first=FIXED)
        self.head = nn.Linear(32, 3)

    def forward(self, x):
        return self.head(self.gru(x)[0][:, -1])


seed()
x, y = sequences()
train, valid = loaders(x, y)
model = Net()
fit(model, torch.optim.Adam(model.parameters(), 3e-3), F.cross_entropy, train, epochs=4)
