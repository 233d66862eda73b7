"""https://github.com/ZhaoZhibin/UDTL/issues/3 (target size [128] vs input size [128, 1])
Loss broadcast (TW-A06): the model returns (N, 1), the target is (N,); MSELoss broadcasts them
to (N, N) and the model learns only the mean. Fixed: out.squeeze(-1)."""

import torch
from _common import FIXED, loaders, mlp, regression, seed
from torch import nn

seed()
x, y = regression()
train, valid = loaders(x, y.squeeze(-1))
model = mlp(10, 1)
opt = torch.optim.Adam(model.parameters(), 1e-3)
loss_fn = nn.MSELoss()
for _epoch in range(5):
    model.train()
    for xb, yb in train:
        opt.zero_grad()
        out = model(xb)
        loss_fn(out.squeeze(-1) if FIXED else out, yb).backward()
        opt.step()
