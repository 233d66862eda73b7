"""Healthy: a small Transformer encoder over tokens, AdamW with warmup, validation."""

import torch
from _common import evaluate, loaders, seed, tokens
from torch import nn

seed()
x, y = tokens(n=800)
train, valid = loaders(x, y)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 32)
        self.pos = nn.Parameter(torch.zeros(1, 16, 32))
        layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(32, 2)

    def forward(self, x):
        return self.head(self.encoder(self.embed(x) + self.pos).mean(1))


model = Net()
opt = torch.optim.AdamW(model.parameters(), 1e-3)
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 20))
loss_fn = nn.CrossEntropyLoss()
for _epoch in range(5):
    model.train()
    for xb, yb in train:
        opt.zero_grad()
        loss_fn(model(xb), yb).backward()
        opt.step()
        sched.step()
    evaluate(model, valid, loss_fn)
