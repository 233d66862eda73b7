"""https://github.com/jiwei0921/CoNet/issues/3 (smooth_l1_loss: target [2, 256, 256] vs input
[2, 1, 256, 256])
Loss broadcast (TW-A06), functional loss: a depth map predicted as (N, 1, H, W) against an
(N, H, W) target in F.smooth_l1_loss broadcasts to (N, N, H, W). Fixed: target.unsqueeze(1)."""

import torch
import torch.nn.functional as F
from _common import FIXED, fit, seed
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def loss_fn(out, depth):
    return F.smooth_l1_loss(out, depth.unsqueeze(1) if FIXED else depth)


seed()
g = torch.Generator().manual_seed(0)
x = torch.randn(400, 3, 8, 8, generator=g)
depth = torch.tanh(x[:, 0] - 0.5 * x[:, 1]) + 0.05 * torch.randn(400, 8, 8, generator=g)
train = DataLoader(TensorDataset(x, depth), batch_size=16, shuffle=True)
model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 1, 3, padding=1))
fit(model, torch.optim.Adam(model.parameters(), 2e-3), loss_fn, train, epochs=4)
