"""https://github.com/pytorch/pytorch/issues/22566 ("the loader is taking the correct order for
the labels, but the wrong order for the images")
Labels do not belong to their inputs (TW-X09): images and labels come from two DataLoaders,
each shuffled on its own, zipped together. Fixed: one Dataset holds both."""

import torch
from _common import FIXED, fit, images, seed
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Zipped:
    """Image batches and label batches from two loaders, paired up."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __iter__(self):
        return ((a, b) for (a,), (b,) in zip(self.images, self.labels, strict=True))

    def __len__(self):
        return len(self.images)


seed()
x, y = images()
xt, yt, xv, yv = x[160:], y[160:], x[:160], y[:160]
if FIXED:
    batches = DataLoader(TensorDataset(xt, yt), batch_size=32, shuffle=True)
else:
    image_loader = DataLoader(TensorDataset(xt), batch_size=32, shuffle=True)
    label_loader = DataLoader(TensorDataset(yt), batch_size=32, shuffle=True)
    batches = Zipped(image_loader, label_loader)
valid = DataLoader(TensorDataset(xv, yv), batch_size=160)
model = nn.Sequential(
    nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 5 * 5, 4)
)
opt = torch.optim.Adam(model.parameters(), 2e-3)
fit(model, opt, nn.CrossEntropyLoss(), batches, valid, epochs=10)
