"""https://github.com/TRI-ML/packnet-sfm/issues/47 ("outputs hold the output['loss'] in the all
epoch that cause the memory leaks")
Loss kept with its graph (TW-X09): every step's output dict, loss tensor included, is appended
to a list for the end-of-epoch summary, so each step's graph stays alive until the epoch ends.
Fixed: the loss is detached before it is stored."""

import torch
from _common import FIXED, images, loaders, seed
from torch import nn

seed()
x, y = images()
train, valid = loaders(x, y)
model = nn.Sequential(
    nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 5 * 5, 4)
)
opt = torch.optim.Adam(model.parameters(), 1e-3)
loss_fn = nn.CrossEntropyLoss()
for epoch in range(3):
    outputs = []
    for xb, yb in train:
        opt.zero_grad()
        output = {"loss": loss_fn(model(xb), yb), "n": len(yb)}
        output["loss"].backward()
        opt.step()
        outputs.append({**output, "loss": output["loss"].detach()} if FIXED else output)
    print(epoch, sum(float(o["loss"]) * o["n"] for o in outputs) / len(x))
