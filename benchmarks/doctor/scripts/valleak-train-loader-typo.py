"""https://github.com/KrishnaDN/x-vector-pytorch/issues/8 (dataloader_val built from dataset_train)
Validation drawn from the training set (TW-D06): a copy-paste slip builds the validation loader
from the training dataset, so validation measures memorization. Fixed: the validation dataset."""

import torch
from _common import FIXED, blobs, fit, mlp, seed
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

seed()
x, y = blobs(noise=2.0)
dataset_train = TensorDataset(x[:960], y[:960])
dataset_val = TensorDataset(x[960:], y[960:])
dataloader_train = DataLoader(dataset_train, batch_size=32, shuffle=True)
dataloader_val = DataLoader(dataset_val if FIXED else dataset_train, batch_size=64, shuffle=True)
model = mlp(20, 4)
opt = torch.optim.Adam(model.parameters(), 1e-3)
fit(model, opt, nn.CrossEntropyLoss(), dataloader_train, dataloader_val, epochs=4)
