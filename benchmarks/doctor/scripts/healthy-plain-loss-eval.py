"""Healthy: plain-function loss (label-smoothed cross-entropy by hand), validation under eval()
without no_grad, StepLR stepped once per epoch, AdamW with weight decay 0.01."""

import torch
from _common import blobs, loaders, mlp, seed

seed()
x, y = blobs()
train, valid = loaders(x, y)
model = mlp(20, 4)
opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)


def loss_fn(out, target, eps=0.1):
    logp = torch.log_softmax(out, 1)
    nll = -logp[torch.arange(len(target)), target]
    return ((1 - eps) * nll - eps * logp.mean(1)).mean()


for _epoch in range(6):
    model.train()
    for xb, yb in train:
        opt.zero_grad()
        loss_fn(model(xb), yb).backward()
        opt.step()
    sched.step()
    model.eval()
    val = sum(float(loss_fn(model(xb), yb)) for xb, yb in valid)
