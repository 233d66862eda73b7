"""http://pytorch.org/docs/master/notes/faq.html ("Don't accumulate history across your
training loop")
Loss kept with its graph (TW-X09), functional loss: every step's loss tensor is appended to a
history list for plotting. Fixed: loss.item() is appended."""

import torch
import torch.nn.functional as F
from _common import FIXED, blobs, fit, loaders, mlp, seed

seed()
x, y = blobs()
train, valid = loaders(x, y)
model = mlp(20, 4)
history = []


def keep(loss):
    history.append(loss.item() if FIXED else loss)


fit(
    model,
    torch.optim.Adam(model.parameters(), 1e-3),
    F.cross_entropy,
    train,
    epochs=3,
    on_step=keep,
)
