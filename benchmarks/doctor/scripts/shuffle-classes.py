"""Unshuffled data (TW-D12): rows sorted by class and DataLoader(shuffle=False), so each
batch holds one class. Fixed: shuffle=True."""

import torch
from _common import FIXED, blobs, fit, loaders, mlp, seed
from torch import nn

seed()
x, y = blobs()
order = torch.argsort(y, stable=True)
x, y = x[order], y[order]
perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(5))
val_idx, train_idx = perm[:240], perm[240:]
x = torch.cat([x[val_idx], x[train_idx.sort().values]])
y = torch.cat([y[val_idx], y[train_idx.sort().values]])
train, valid = loaders(x, y, shuffle=FIXED)
model = mlp(20, 4)
fit(
    model, torch.optim.Adam(model.parameters(), 1e-3), nn.CrossEntropyLoss(), train, valid, epochs=3
)
