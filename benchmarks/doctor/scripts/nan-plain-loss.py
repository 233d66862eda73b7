"""https://epcsirmaz.blogspot.com/2019/07/decreasing-accuracy-in-neural-nets.html ("a NaN
value is fed into the loss function, for example, as a result of taking the logarithm of 0")
NaN (TW-X02), plain-function loss: cross-entropy written as -log(softmax) on sharpened logits
reaches log(0). Fixed: log_softmax."""

import torch
from _common import FIXED, blobs, fit, loaders, mlp, seed

seed()
x, y = blobs(noise=0.5)
train, valid = loaders(x, y)
model = mlp(20, 4)


def loss_fn(out, target):
    sharp = out * 200
    logp = torch.log_softmax(sharp, 1) if FIXED else torch.log(torch.softmax(sharp, 1))
    return -logp[torch.arange(len(target)), target].mean()


fit(model, torch.optim.Adam(model.parameters(), 1e-2), loss_fn, train, valid, epochs=3)
