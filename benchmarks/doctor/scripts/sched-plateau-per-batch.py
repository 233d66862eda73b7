"""https://github.com/Lightning-AI/pytorch-lightning/issues/1156 (ReduceLROnPlateau stepped
after each batch)
LR decayed away (TW-T03): ReduceLROnPlateau(patience=2) is stepped with every batch's loss, so a
few noisy batches that miss the best batch loss cut the LR tenfold, again and again, until
training stops. Fixed: stepped once per epoch with the validation loss."""

import torch
from _common import FIXED, blobs, fit, loaders, mlp, seed
from torch import nn

seed()
x, y = blobs(noise=1.5)
train, valid = loaders(x, y)
model = mlp(20, 4)
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.1, patience=2)
loss_fn = nn.CrossEntropyLoss()
fit(model, opt, loss_fn, train, valid, epochs=5, scheduler=sched, per_batch=not FIXED)
