"""https://github.com/ZhaoZhibin/UDTL/issues/3 (target size [128] vs input size [128, 1])
Loss broadcast (TW-A06): the model returns (N, 1), the target is (N,); MSELoss broadcasts them
to (N, N) and the model learns only the mean. Fixed: out.squeeze(-1)."""

import torch
from _common import FIXED, fit, loaders, mlp, regression, seed
from torch import nn

seed()
x, y = regression()
train, valid = loaders(x, y.squeeze(-1))
model = mlp(10, 1)
if FIXED:
    model.append(nn.Flatten(0))  # (N, 1) -> (N,)
opt = torch.optim.Adam(model.parameters(), 1e-3)
fit(model, opt, nn.MSELoss(), train, epochs=5)
