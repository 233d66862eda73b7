"""https://github.com/yudi-mars/daisyRec/pull/15 ("Do not need sigmoid because there is sigmoid in
BCEWithLogitsLoss ... Otherwise loss does not converge")
Output/loss mismatch (TW-A06): the model ends in a sigmoid and BCEWithLogitsLoss applies a
second one, so predictions are squeezed into [0.5, 0.73]. Fixed: raw logits out."""

import torch
from _common import FIXED, blobs, fit, loaders, mlp, seed
from torch import nn

seed()
x, y = blobs(k=2)
train, valid = loaders(x, y.float().unsqueeze(1))
net = mlp(20, 1)
model = net if FIXED else nn.Sequential(net, nn.Sigmoid())
fit(model, torch.optim.Adam(model.parameters(), 1e-3), nn.BCEWithLogitsLoss(), train, valid, 4)
