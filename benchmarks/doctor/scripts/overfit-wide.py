"""Overfitting (TW-X07): a wide MLP trained for many epochs on 150 noisy examples.
Fixed: weight decay, dropout and early stopping (TW-T04) on validation loss."""

import torch
from _common import FIXED, blobs, evaluate, loaders, seed
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
loss_fn = nn.CrossEntropyLoss()
best, bad = float("inf"), 0
for _epoch in range(40):
    model.train()
    for xb, yb in train:
        opt.zero_grad()
        loss_fn(model(xb), yb).backward()
        opt.step()
    val = evaluate(model, valid, loss_fn)
    best, bad = (val, 0) if val < best else (best, bad + 1)
    if FIXED and bad >= 2:
        break
