"""NaN (TW-X02): a confidence penalty computes entropy as -(p * log p) from a sharpened
softmax; once a probability underflows to 0, log(0) = -inf and 0 * -inf = NaN in the
gradients. Fixed: the same penalty from log_softmax (finite everywhere)."""

import torch
from _common import FIXED, blobs, fit, loaders, mlp, seed
from torch import nn

seed()
x, y = blobs(noise=0.5)
train, valid = loaders(x, y)
model = mlp(20, 4)
ce = nn.CrossEntropyLoss()


def loss_fn(logits, target):
    sharp = logits / 0.01
    p = torch.softmax(sharp, dim=1)
    logp = torch.log_softmax(sharp, dim=1) if FIXED else torch.log(p)
    entropy = -(p * logp).sum(1).mean()
    return ce(logits, target) - 0.01 * entropy


fit(model, torch.optim.Adam(model.parameters(), 1e-3), loss_fn, train, valid, epochs=3)
