"""https://github.com/TRI-ML/packnet-sfm/issues/47 ("outputs hold the output['loss'] in the all
epoch that cause the memory leaks")
Loss kept with its graph (TW-X09): every step's output dict, loss tensor included, is appended
to a list for the end-of-epoch summary, so each step's graph stays alive until the epoch ends.
Fixed: the loss is detached before it is stored."""

import torch
from _common import FIXED, fit, images, loaders, seed
from torch import nn

seed()
x, y = images()
train, valid = loaders(x, y)
model = nn.Sequential(
    nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 5 * 5, 4)
)
outputs = []


def keep(loss):
    output = {"loss": loss, "n": train.batch_size}
    outputs.append({**output, "loss": output["loss"].detach()} if FIXED else output)


def epoch_end(epoch):
    print(epoch, sum(float(o["loss"]) * o["n"] for o in outputs) / len(x))
    outputs.clear()


opt = torch.optim.Adam(model.parameters(), 1e-3)
fit(model, opt, nn.CrossEntropyLoss(), train, epochs=3, on_step=keep, on_epoch_end=epoch_end)
