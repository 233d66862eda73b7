"""https://www.explaintopic.com/networking/why-is-my-neural-network-experiencing-high-dropout-rates-dur-1765893552.html
Regularization too strong (TW-T05): dropout p=0.9 after every hidden layer; the network cannot
fit the training data and validation looks far better than training. Fixed: p=0.2."""

import torch
from _common import FIXED, blobs, fit, loaders, seed
from torch import nn

seed()
x, y = blobs(noise=1.5)
train, valid = loaders(x, y)
p = 0.2 if FIXED else 0.9
model = nn.Sequential(
    nn.Linear(20, 64),
    nn.ReLU(),
    nn.Dropout(p),
    nn.Linear(64, 64),
    nn.ReLU(),
    nn.Dropout(p),
    nn.Linear(64, 4),
)
fit(model, torch.optim.Adam(model.parameters(), 1e-3), nn.CrossEntropyLoss(), train, valid, 5)
