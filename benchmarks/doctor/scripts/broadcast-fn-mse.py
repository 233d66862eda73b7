"""https://github.com/deepset-ai/FARM/issues/229 (target size [32, 1] vs input size [32])
Loss broadcast (TW-A06), functional loss: squeezed predictions (N,) against a (N, 1) target in
F.mse_loss broadcast to (N, N). Fixed: the target is flattened too."""

import torch
import torch.nn.functional as F
from _common import FIXED, loaders, mlp, regression, seed

seed()
x, y = regression()
train, valid = loaders(x, y)
model = mlp(10, 1)
opt = torch.optim.Adam(model.parameters(), 1e-3)
for _epoch in range(5):
    model.train()
    for xb, yb in train:
        opt.zero_grad()
        F.mse_loss(model(xb).squeeze(-1), yb.squeeze(-1) if FIXED else yb).backward()
        opt.step()
