"""https://stackoom.com/en/question/4QOjQ ("All zero class" prediction: fraud under 1 %, the
network predicts every record as class 0)
Class imbalance (TW-D11): 4 % frauds with a weak signal in 2 of 5 compressed features; a small
ReLU network learns only the prior and predicts "not fraud" for everything. Fixed: the frauds are
oversampled to balance the classes (the answer's resampling)."""

import torch
from _common import FIXED, fit, seed
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

seed()
g = torch.Generator().manual_seed(1)
n = 3000
y = (torch.rand(n, generator=g) < 0.04).long()
x = torch.randn(n, 5, generator=g)
x[:, :2] += 1.5 * y.unsqueeze(1).float()
if FIXED:
    frauds = torch.nonzero(y == 1).squeeze(1)
    extra = frauds.repeat(int((y == 0).sum() // len(frauds)) - 1)
    x, y = torch.cat([x, x[extra]]), torch.cat([y, y[extra]])
train = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
model = nn.Sequential(nn.Linear(5, 10), nn.ReLU(), nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 2))
fit(model, torch.optim.SGD(model.parameters(), lr=0.02), nn.CrossEntropyLoss(), train, epochs=4)
