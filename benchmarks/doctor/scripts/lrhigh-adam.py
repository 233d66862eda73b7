"""Learning rate too high (TW-X05): Adam at lr=0.3 on a small CNN. Fixed: lr=1e-3."""

import torch
from _common import FIXED, fit, images, loaders, seed
from torch import nn

seed()
x, y = images()
train, valid = loaders(x, y)
model = nn.Sequential(
    nn.Conv2d(1, 8, 3, padding=1),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Conv2d(8, 16, 3, padding=1),
    nn.ReLU(),
    nn.AdaptiveAvgPool2d(2),
    nn.Flatten(),
    nn.Linear(64, 4),
)
opt = torch.optim.Adam(model.parameters(), lr=1e-3 if FIXED else 0.3)
fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=4)
