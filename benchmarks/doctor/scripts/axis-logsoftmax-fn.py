"""https://e-com-net.com/article/1609010332380987392.htm (what dim does nn.Softmax normalize?)
Softmax over the batch (TW-A06), functional: F.log_softmax(x, dim=0) before F.nll_loss.
Fixed: dim=1."""

import torch
import torch.nn.functional as F
from _common import FIXED, blobs, fit, loaders, mlp, seed

seed()
x, y = blobs()
train, valid = loaders(x, y)
model = mlp(20, 4)


def loss_fn(out, target):
    return F.nll_loss(F.log_softmax(out, dim=1 if FIXED else 0), target)


fit(model, torch.optim.Adam(model.parameters(), 1e-3), loss_fn, train, valid, epochs=3)
