"""https://taourl.com/read-2391810.html ("Loss is not changing ... Extremely small learning
rate")
LR too low (TW-X06), loss written as a plain function (squared error by hand): SGD at 1e-6.
Fixed: lr=0.05."""

import torch
from _common import FIXED, fit, loaders, mlp, regression, seed

seed()
x, y = regression()
train, valid = loaders(x, y)
model = mlp(10, 1)


def loss_fn(out, target):
    return ((out - target) ** 2).mean()


opt = torch.optim.SGD(model.parameters(), lr=0.05 if FIXED else 1e-6)
fit(model, opt, loss_fn, train, valid, epochs=6)
