"""Healthy: LSTM classifier at batch size 4 (a noisy loss curve), clipping, F.cross_entropy."""

import torch
import torch.nn.functional as F
from _common import loaders, seed, sequences
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(6, 32, batch_first=True)
        self.head = nn.Linear(32, 3)

    def forward(self, x):
        return self.head(self.lstm(x)[0][:, -1])


seed()
x, y = sequences(n=500)
train, valid = loaders(x, y, batch_size=4)
model = Net()
opt = torch.optim.Adam(model.parameters(), 3e-3)
for _epoch in range(3):
    model.train()
    for xb, yb in train:
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    model.eval()
    with torch.no_grad():
        sum(float(F.cross_entropy(model(xb), yb)) for xb, yb in valid)
