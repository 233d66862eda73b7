"""http://pytorch.org/docs/master/notes/faq.html ("Don't accumulate history across your
training loop")
Loss kept with its graph (TW-X09), functional loss: every step's loss tensor is appended to a
history list for plotting. Fixed: loss.item() is appended."""

import torch
import torch.nn.functional as F
from _common import FIXED, blobs, loaders, mlp, seed

seed()
x, y = blobs()
train, valid = loaders(x, y)
model = mlp(20, 4)
opt = torch.optim.Adam(model.parameters(), 1e-3)
history = []
for _epoch in range(3):
    for xb, yb in train:
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        history.append(loss.item() if FIXED else loss)
