"""https://math.stackexchange.com/questions/3909320/how-can-i-increase-validation-accuracy-when-training-accuracy-reached-100
Overfitting (TW-X07), functional loss, validation once per epoch under eval() without
no_grad: a wide MLP on 150 noisy examples for 40 epochs. Fixed: dropout, weight decay and
early stopping on the validation loss (TW-T04)."""

import torch
import torch.nn.functional as F
from _common import FIXED, blobs, loaders, seed
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
best, bad = float("inf"), 0
for _epoch in range(40):
    model.train()
    for xb, yb in train:
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        opt.step()
    model.eval()
    val = sum(float(F.cross_entropy(model(xb), yb)) * len(yb) for xb, yb in valid) / 150
    best, bad = (val, 0) if val < best else (best, bad + 1)
    if FIXED and bad >= 2:
        break
