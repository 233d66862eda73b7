"""https://github.com/hassony2/kinetics_i3d_pytorch/issues/6 (dropout_keep_prob passed as
nn.Dropout's p, the probability of zeroing)
Regularization too strong (TW-T05): a TensorFlow port passes keep_prob=0.8 to nn.Dropout, which
then drops 80 % of the units. Fixed: nn.Dropout(1 - keep_prob)."""

import torch
from _common import FIXED, fit, images, loaders, seed
from torch import nn

seed()
x, y = images()
train, valid = loaders(x, y)
keep_prob = 0.8
p = 1 - keep_prob if FIXED else keep_prob
model = nn.Sequential(
    nn.Conv2d(1, 16, 3),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Flatten(),
    nn.Dropout(p),
    nn.Linear(16 * 5 * 5, 64),
    nn.ReLU(),
    nn.Dropout(p),
    nn.Linear(64, 4),
)
fit(model, torch.optim.Adam(model.parameters(), 1e-3), nn.CrossEntropyLoss(), train, valid, 5)
