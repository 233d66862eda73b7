"""Validation far better than training (TW-D06): the validation rows are copies of training
rows, and training adds input noise and dropout, so the memorized validation looks easy.
Fixed: a disjoint validation split."""

import torch
from _common import FIXED, blobs, fit, seed
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class InputNoise(nn.Module):
    """Gaussian noise on the inputs while training (augmentation)."""

    def forward(self, x):
        return x + 1.0 * torch.randn_like(x) if self.training else x


seed()
x, y = blobs(n=400, noise=2.0)
xt, yt = x[100:], y[100:]
xv, yv = (x[:100], y[:100]) if FIXED else (xt[:100], yt[:100])
train = DataLoader(TensorDataset(xt, yt), batch_size=16, shuffle=True)
valid = DataLoader(TensorDataset(xv, yv), batch_size=256)
model = nn.Sequential(
    InputNoise(), nn.Linear(20, 512), nn.ReLU(), nn.Dropout(0.5), nn.Linear(512, 4)
)
opt = torch.optim.Adam(model.parameters(), 1e-3)
fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=12)
