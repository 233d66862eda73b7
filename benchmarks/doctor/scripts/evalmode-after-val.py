"""Model left in eval mode (TW-T05): validation calls model.eval() and the loop never calls
model.train() again, so dropout is off from the second epoch. Fixed: model.train() each epoch."""

import torch
from _common import FIXED, blobs, loaders, seed
from torch import nn

seed()
x, y = blobs()
train, valid = loaders(x, y)
model = nn.Sequential(nn.Linear(20, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 4))
opt = torch.optim.Adam(model.parameters(), 1e-3)
loss_fn = nn.CrossEntropyLoss()
model.train()
for _epoch in range(4):
    if FIXED:
        model.train()
    for xb, yb in train:
        opt.zero_grad()
        loss_fn(model(xb), yb).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        val = sum(float(loss_fn(model(xb), yb)) for xb, yb in valid)
