"""Unnormalized inputs (TW-D08): raw 0-255 pixel values into a CNN.
Fixed: standardized with training-set mean and std."""

import torch
from _common import FIXED, fit, images, loaders, seed
from torch import nn

seed()
x, y = images()
x = ((x - x.min()) / (x.max() - x.min()) * 255).round()
if FIXED:
    x = (x - x.mean()) / x.std()
train, valid = loaders(x, y)
model = nn.Sequential(
    nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 36, 4)
)
fit(
    model, torch.optim.Adam(model.parameters(), 1e-3), nn.CrossEntropyLoss(), train, valid, epochs=3
)
