"""https://github.com/davidcpage/cifar10-fast/issues/9 (weight_decay=5e-4*batch_size)
Weight decay too strong (TW-T05): a recipe's weight decay scaled by the batch size
(5e-4 * 1024 = 0.512) is copied without the matching LR scaling, so SGD at lr 0.02 shrinks every
weight by 1 % per step. Fixed: weight_decay=5e-4."""

import torch
from _common import FIXED, fit, images, loaders, seed
from torch import nn

seed()
x, y = images()
train, valid = loaders(x, y)
batch_size = 1024
model = nn.Sequential(
    nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 5 * 5, 4)
)
wd = 5e-4 if FIXED else 5e-4 * batch_size
opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, nesterov=True, weight_decay=wd)
fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=5)
