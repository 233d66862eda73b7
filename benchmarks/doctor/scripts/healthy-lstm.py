"""Healthy: LSTM sequence classifier, Adam, gradient clipping, validation."""

import torch
from _common import evaluate, loaders, seed, sequences
from torch import nn

seed()
x, y = sequences(n=800)
train, valid = loaders(x, y)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(6, 48, batch_first=True)
        self.head = nn.Linear(48, 3)

    def forward(self, x):
        return self.head(self.lstm(x)[0][:, -1])


model = Net()
opt = torch.optim.Adam(model.parameters(), 3e-3)
loss_fn = nn.CrossEntropyLoss()
for _epoch in range(6):
    model.train()
    for xb, yb in train:
        opt.zero_grad()
        loss_fn(model(xb), yb).backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    evaluate(model, valid, loss_fn)
