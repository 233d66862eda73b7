"""https://alexacabs.in/why-is-accuracy-and-validation-accuracy-always-1.html ("a mistake in
the data preprocessing ... or evaluation code")
Validation drawn from the training set (TW-D06): the validation loader is built from the
training subset that random_split returned. Fixed: from the held-out subset."""

import torch
from _common import FIXED, blobs, fit, mlp, seed
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, random_split

seed()
x, y = blobs(noise=2.0)
train_ds, val_ds = random_split(TensorDataset(x, y), [960, 240])
train = DataLoader(train_ds, batch_size=32, shuffle=True)
valid = DataLoader(val_ds if FIXED else train_ds, batch_size=256)
model = mlp(20, 4)
opt = torch.optim.Adam(model.parameters(), 1e-3)
fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=4)
