"""https://discuss.pytorch.org/t/gpu-memory-increase-while-i-wanna-to-backward-with-accumulative-loss/43284
Loss kept with its graph (TW-X09): `running_loss += loss` sums the loss tensors, so every
step's graph stays alive and memory grows each epoch. Fixed: loss.item()."""

import torch
from _common import FIXED, blobs, loaders, mlp, seed
from torch import nn

seed()
x, y = blobs()
train, valid = loaders(x, y)
model = mlp(20, 4)
opt = torch.optim.Adam(model.parameters(), 1e-3)
loss_fn = nn.CrossEntropyLoss()
for epoch in range(4):
    running_loss = 0.0
    for xb, yb in train:
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        running_loss += loss.item() if FIXED else loss
    print(epoch, float(running_loss) / len(train))
