"""https://github.com/amoudgl/pygoturn/issues/16 (the LR decays on every iteration)
LR decayed away (TW-T03), functional loss: ExponentialLR(gamma=0.5) meant per epoch is stepped
per batch with F.cross_entropy. Fixed: stepped once per epoch."""

import torch
import torch.nn.functional as F
from _common import FIXED, blobs, fit, loaders, mlp, seed

seed()
x, y = blobs()
train, valid = loaders(x, y)
model = mlp(20, 4)
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
fit(model, opt, F.cross_entropy, train, epochs=6, scheduler=sched, per_batch=not FIXED)
