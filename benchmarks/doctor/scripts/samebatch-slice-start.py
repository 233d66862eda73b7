"""https://github.com/simontomaskarlsson/CycleGAN-Keras/pull/24 ("will only pick out images from
the start of the image array in every iteration which means the model is trained on the same
images every iteration")
Same batch every step (TW-X09): the batch slice starts at 0 on every iteration instead of at
i * batch_size. Fixed: the slice advances with the loop index."""

import torch
from _common import FIXED, blobs, seed, split
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

seed()
x, y = blobs()
(xt, yt), (xv, yv) = split(x, y)
order = DataLoader(TensorDataset(torch.arange(len(yt))), batch_size=len(yt), shuffle=True)
model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 4))
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
loss_fn = nn.CrossEntropyLoss()
bs = 32
for _epoch in range(4):
    for (perm,) in order:  # one reshuffle per epoch
        xs, ys = xt[perm], yt[perm]
        for i in range(len(ys) // bs):
            start = i * bs if FIXED else 0
            opt.zero_grad()
            loss_fn(model(xs[start : start + bs]), ys[start : start + bs]).backward()
            opt.step()
