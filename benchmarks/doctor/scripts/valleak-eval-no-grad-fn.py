"""https://math.stackexchange.com/questions/3909320/how-can-i-increase-validation-accuracy-when-training-accuracy-reached-100
Validation drawn from the training set (TW-D06), functional loss, validation under eval()
without no_grad: the script "validates" on a slice of its own training tensors. Fixed: on
rows kept out of training."""

import torch
import torch.nn.functional as F
from _common import FIXED, blobs, mlp, seed
from torch.utils.data import DataLoader, TensorDataset

seed()
x, y = blobs(noise=2.0)
xt, yt = x[:960], y[:960]
xv, yv = (x[960:], y[960:]) if FIXED else (x[:240], y[:240])
train = DataLoader(TensorDataset(xt, yt), batch_size=32, shuffle=True)
model = mlp(20, 4)
opt = torch.optim.Adam(model.parameters(), 1e-3)
for _epoch in range(4):
    model.train()
    for xb, yb in train:
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        opt.step()
    model.eval()
    print(float(F.cross_entropy(model(xv), yv)))
