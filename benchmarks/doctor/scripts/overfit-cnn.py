"""Overfitting (TW-X07): a CNN trained for 40 epochs on 120 images with 30 % wrong labels.
Fixed: augmentation-free early stopping with patience 2 and weight decay."""

import torch
from _common import FIXED, fit, images, loaders, seed
from torch import nn

seed()
x, y = images(n=240)
g = torch.Generator().manual_seed(1)
flip = torch.rand(len(y), generator=g) < 0.3
y[flip] = torch.randint(0, 4, (int(flip.sum()),), generator=g)
train, valid = loaders(x, y, batch_size=16, val=0.5)
model = nn.Sequential(
    nn.Conv2d(1, 32, 3, padding=1),
    nn.ReLU(),
    nn.Flatten(),
    nn.Linear(32 * 144, 128),
    nn.ReLU(),
    nn.Linear(128, 4),
)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05 if FIXED else 0.0)
fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=40, patience=2 if FIXED else None)
