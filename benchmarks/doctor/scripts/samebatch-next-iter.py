"""https://androidkt.com/iterating-through-dataloader-using-iter-and-next-in-pytorch/
(next(iter(loader)) returns one batch)
Same batch every step (TW-X09): the batch is drawn once with next(iter(loader)) before the
loop and trained on for every step of every epoch. Fixed: iterate the loader."""

import torch
from _common import FIXED, blobs, evaluate, loaders, mlp, seed
from torch import nn

seed()
x, y = blobs()
train, valid = loaders(x, y)
model = mlp(20, 4)
opt = torch.optim.Adam(model.parameters(), 1e-3)
loss_fn = nn.CrossEntropyLoss()
xb, yb = next(iter(train))
for _epoch in range(5):
    model.train()
    for batch in train:
        if FIXED:
            xb, yb = batch
        opt.zero_grad()
        loss_fn(model(xb), yb).backward()
        opt.step()
    evaluate(model, valid, loss_fn)
