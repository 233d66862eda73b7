"""https://discuss.pytorch.org/t/gpu-memory-increase-while-i-wanna-to-backward-with-accumulative-loss/43284
Loss kept with its graph (TW-X09): `running_loss += loss` sums the loss tensors, so every
step's graph stays alive and memory grows each epoch. Fixed: loss.item()."""

import torch
from _common import FIXED, blobs, fit, loaders, mlp, seed
from torch import nn

seed()
x, y = blobs()
train, valid = loaders(x, y)
model = mlp(20, 4)
running_loss = [0.0]


def add(loss):
    running_loss[0] += loss.item() if FIXED else loss


def epoch_end(epoch):
    print(epoch, float(running_loss[0]) / len(train))
    running_loss[0] = 0.0


opt = torch.optim.Adam(model.parameters(), 1e-3)
fit(model, opt, nn.CrossEntropyLoss(), train, epochs=4, on_step=add, on_epoch_end=epoch_end)
