"""Model left in eval mode (TW-T05): a checkpoint is loaded for fine-tuning with model.eval()
and training starts without model.train(): batch norm uses frozen statistics, dropout is off.
Fixed: model.train() before training."""

import torch
from _common import FIXED, images, loaders, seed
from torch import nn

seed()
x, y = images()
train, valid = loaders(x, y)
model = nn.Sequential(
    nn.Conv2d(1, 8, 3, padding=1),
    nn.BatchNorm2d(8),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Flatten(),
    nn.Dropout(0.2),
    nn.Linear(8 * 36, 4),
)
model.load_state_dict(model.state_dict())
model.eval()
opt = torch.optim.Adam(model.parameters(), 1e-3)
loss_fn = nn.CrossEntropyLoss()
if FIXED:
    model.train()
for _epoch in range(3):
    for xb, yb in train:
        opt.zero_grad()
        loss_fn(model(xb), yb).backward()
        opt.step()
