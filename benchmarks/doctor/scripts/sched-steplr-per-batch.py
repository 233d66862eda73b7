"""https://github.com/pytorch/tutorials/pull/640 (scheduler.step() per epoch, not per batch)
LR decayed away (TW-T03): StepLR(step_size=2, gamma=0.1) counts epochs but is stepped after
every batch, so the LR is 1e-10 of its start after 20 batches. Fixed: stepped once per epoch."""

import torch
from _common import FIXED, blobs, fit, loaders, mlp, seed
from torch import nn

seed()
x, y = blobs()
train, valid = loaders(x, y)
model = mlp(20, 4)
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.1)
loss_fn = nn.CrossEntropyLoss()
fit(model, opt, loss_fn, train, valid, epochs=6, scheduler=sched, per_batch=not FIXED)
