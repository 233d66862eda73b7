"""https://www.explaintopic.com/networking/neural-network-training-loss-not-decreasing-in-production-en-1765892512.html
("using nn.BCELoss with raw logits")
Output/loss mismatch (TW-A06), functional loss: F.binary_cross_entropy on an unbounded output
(it raises once a value leaves [0, 1]). Fixed: F.binary_cross_entropy_with_logits."""

import torch
import torch.nn.functional as F
from _common import FIXED, blobs, fit, loaders, mlp, seed

seed()
x, y = blobs(k=2)
train, valid = loaders(x, y.float().unsqueeze(1))
model = mlp(20, 1)
loss_fn = F.binary_cross_entropy_with_logits if FIXED else F.binary_cross_entropy
fit(model, torch.optim.Adam(model.parameters(), 1e-3), loss_fn, train, valid, epochs=3)
