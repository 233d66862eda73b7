"""https://github.com/pytorch/examples/blob/main/mnist_hogwild/main.py
pytorch/examples mnist_hogwild (with train.py): Hogwild! training, 2 processes started with
``torch.multiprocessing`` (``spawn``) train one model held in shared memory, each with its own
SGD (lr 0.01, momentum 0.5) and its own shuffled loader (batch 64, seed + rank); Net (two
convs, Dropout2d, dropout, log_softmax), F.nll_loss; the parent tests the model after both
finish.

Changed to run offline: scikit-learn's bundled digits upscaled to 28x28 and normalized as MNIST
(``_digits.digits``) instead of the MNIST download; 2 epochs instead of 10; one file (the
example's train.py functions below main's, as the spawned children import them from here).
"""

from __future__ import annotations

import os

import torch
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F
from _digits import digits

EPOCHS, LR, MOMENTUM, SEED, LOG_INTERVAL, NUM_PROCESSES = 2, 0.01, 0.5, 1, 10, 2


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.conv2_drop = nn.Dropout2d()
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = x.view(-1, 320)
        x = F.relu(self.fc1(x))
        x = F.dropout(x, training=self.training)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


def train(rank, model, dataset, dataloader_kwargs):  # type: ignore[no-untyped-def]
    torch.manual_seed(SEED + rank)
    train_loader = torch.utils.data.DataLoader(dataset, **dataloader_kwargs)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    for epoch in range(1, EPOCHS + 1):
        train_epoch(epoch, model, train_loader, optimizer)


def test(model, dataset, dataloader_kwargs):  # type: ignore[no-untyped-def]
    torch.manual_seed(SEED)
    test_loader = torch.utils.data.DataLoader(dataset, **dataloader_kwargs)
    test_epoch(model, test_loader)


def train_epoch(epoch, model, data_loader, optimizer):  # type: ignore[no-untyped-def]
    model.train()
    pid = os.getpid()
    for batch_idx, (data, target) in enumerate(data_loader):
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if batch_idx % LOG_INTERVAL == 0:
            print(f"{pid}\tTrain Epoch: {epoch} [{batch_idx * len(data)}]\tLoss: {loss.item():.6f}")


def test_epoch(model, data_loader):  # type: ignore[no-untyped-def]
    model.eval()
    test_loss, correct = 0.0, 0
    with torch.no_grad():
        for data, target in data_loader:
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            pred = output.max(1)[1]
            correct += pred.eq(target).sum().item()
    test_loss /= len(data_loader.dataset)
    n = len(data_loader.dataset)
    print(f"\nTest set: Average loss: {test_loss:.4f}, Accuracy: {correct}/{n}\n")


if __name__ == "__main__":
    dataset1, dataset2 = digits(normalize=True)
    kwargs = {"batch_size": 64, "shuffle": True}
    torch.manual_seed(SEED)
    mp.set_start_method("spawn", force=True)
    model = Net()
    model.share_memory()  # gradients are allocated lazily, so they are not shared here
    processes = []
    for rank in range(NUM_PROCESSES):
        p = mp.Process(target=train, args=(rank, model, dataset1, kwargs))
        p.start()
        processes.append(p)
    for p in processes:
        p.join()
    test(model, dataset2, kwargs)
