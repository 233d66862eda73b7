"""https://github.com/pytorch/pytorch/issues/22566 ("the loader is taking the correct order for
the labels, but the wrong order for the images")
Labels do not belong to their inputs (TW-X09): images and labels come from two DataLoaders,
each shuffled on its own, zipped together. Fixed: one Dataset holds both."""

import torch
from _common import FIXED, evaluate, images, seed
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

seed()
x, y = images()
xt, yt, xv, yv = x[160:], y[160:], x[:160], y[:160]
if FIXED:
    batches = DataLoader(TensorDataset(xt, yt), batch_size=32, shuffle=True)
else:
    image_loader = DataLoader(TensorDataset(xt), batch_size=32, shuffle=True)
    label_loader = DataLoader(TensorDataset(yt), batch_size=32, shuffle=True)
valid = DataLoader(TensorDataset(xv, yv), batch_size=160)
model = nn.Sequential(
    nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 5 * 5, 4)
)
opt = torch.optim.Adam(model.parameters(), 2e-3)
loss_fn = nn.CrossEntropyLoss()
for _epoch in range(10):
    model.train()
    pairs = (
        batches
        if FIXED
        else ((a, b) for (a,), (b,) in zip(image_loader, label_loader, strict=True))
    )
    for xb, yb in pairs:
        opt.zero_grad()
        loss_fn(model(xb), yb).backward()
        opt.step()
    evaluate(model, valid, loss_fn)
