"""https://github.com/pytorch/tutorials/pull/640 (scheduler.step() per epoch, not per batch)
LR decayed away (TW-T03): StepLR(step_size=2, gamma=0.1) counts epochs but is stepped after
every batch, so the LR is 1e-10 of its start after 20 batches. Fixed: stepped once per epoch."""

import torch
from _common import FIXED, blobs, evaluate, loaders, mlp, seed
from torch import nn

seed()
x, y = blobs()
train, valid = loaders(x, y)
model = mlp(20, 4)
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.1)
loss_fn = nn.CrossEntropyLoss()
for _epoch in range(6):
    model.train()
    for xb, yb in train:
        opt.zero_grad()
        loss_fn(model(xb), yb).backward()
        opt.step()
        if not FIXED:
            sched.step()
    if FIXED:
        sched.step()
    evaluate(model, valid, loss_fn)
