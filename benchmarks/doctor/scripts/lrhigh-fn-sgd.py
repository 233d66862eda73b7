"""https://taourl.com/read-2034078.html ("If the learning rate is too high, the optimizer may
overshoot")
LR too high (TW-X05), functional loss: SGD at lr=3 with F.cross_entropy. Fixed: lr=0.05."""

import torch
import torch.nn.functional as F
from _common import FIXED, blobs, fit, loaders, mlp, seed

seed()
x, y = blobs()
train, valid = loaders(x, y)
model = mlp(20, 4)
opt = torch.optim.SGD(model.parameters(), lr=0.05 if FIXED else 3.0, momentum=0.9)
fit(model, opt, F.cross_entropy, train, valid, epochs=4)
