"""https://stackoverflow.com/questions/48001598/why-do-we-need-to-call-zero-grad-in-pytorch
(backward() adds into .grad; without zero_grad() every step sums all the batches so far)
Gradients never reset (TW-T08): the loop calls loss.backward() and opt.step() but never
opt.zero_grad(); SGD with momentum on the summed gradients diverges, which looks like a too
high learning rate. Fixed: opt.zero_grad() before each backward."""

import torch
from _common import FIXED, blobs, evaluate, loaders, mlp, seed
from torch import nn

seed()
x, y = blobs()
train, valid = loaders(x, y)
model = mlp(20, 4)
opt = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
loss_fn = nn.CrossEntropyLoss()
for epoch in range(4):
    model.train()
    for xb, yb in train:
        if FIXED:
            opt.zero_grad()
        loss_fn(model(xb), yb).backward()
        opt.step()
    print(f"epoch {epoch} val_loss {evaluate(model, valid, loss_fn):.4f}")
