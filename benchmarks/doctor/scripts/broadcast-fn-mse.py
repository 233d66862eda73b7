"""https://github.com/deepset-ai/FARM/issues/229 (target size [32, 1] vs input size [32])
Loss broadcast (TW-A06), functional loss: squeezed predictions (N,) against a (N, 1) target in
F.mse_loss broadcast to (N, N). Fixed: the target is flattened too."""

import torch
import torch.nn.functional as F
from _common import FIXED, fit, loaders, mlp, regression, seed


def loss_fn(out, target):
    return F.mse_loss(out.squeeze(-1), target.squeeze(-1) if FIXED else target)


seed()
x, y = regression()
train, valid = loaders(x, y)
model = mlp(10, 1)
fit(model, torch.optim.Adam(model.parameters(), 1e-3), loss_fn, train, epochs=5)
