"""Overfitting (TW-X07): a wide MLP trained for many epochs on 150 noisy examples.
Fixed: weight decay, dropout and early stopping (TW-T04) on validation loss."""

import torch
from _common import FIXED, blobs, fit, loaders, seed
from torch import nn

seed()
x, y = blobs(n=300, noise=2.5)
train, valid = loaders(x, y, batch_size=16, val=0.5)
drop = 0.5 if FIXED else 0.0
model = nn.Sequential(
    nn.Linear(20, 256),
    nn.ReLU(),
    nn.Dropout(drop),
    nn.Linear(256, 256),
    nn.ReLU(),
    nn.Dropout(drop),
    nn.Linear(256, 4),
)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1 if FIXED else 0.0)
fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=40, patience=2 if FIXED else None)
