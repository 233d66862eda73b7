"""https://github.com/threelittlemonkeys/seq2seq-pytorch/issues/2 ("I forgot about
batch_first = True")
RNN layout (TW-A06): a forecasting RNN fed (batch, time, feature) windows without batch_first,
so the recurrence runs across the windows of a batch. Fixed: batch_first=True."""

import torch
from _common import FIXED, fit, loaders, seed
from torch import nn


class Forecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(1, 32, batch_first=FIXED)
        self.out = nn.Linear(32, 1)

    def forward(self, x):
        h = self.rnn(x)[0]
        return self.out(h[:, -1])


seed()
g = torch.Generator().manual_seed(0)
t = torch.arange(2000, dtype=torch.float32)
series = torch.sin(t / 8) + 0.5 * torch.sin(t / 23) + 0.05 * torch.randn(2000, generator=g)
windows = series.unfold(0, 21, 1)[:1200]
x, y = windows[:, :20].unsqueeze(-1), windows[:, 20:]
train, valid = loaders(x, y)
model = Forecaster()
opt = torch.optim.Adam(model.parameters(), 3e-3)
fit(model, opt, nn.MSELoss(), train, valid, epochs=4)
