"""https://github.com/pytorch/examples/blob/main/mnist_rnn/main.py
pytorch/examples mnist_rnn: an LSTM over the 28 rows, BatchNorm, dropout, F.nll_loss, Adadelta.

Changed to run offline: scikit-learn's bundled digits upscaled to 28x28 instead of the
MNIST download; 2 epochs instead of 14.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from _digits import loaders
from torch.optim.lr_scheduler import StepLR


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(input_size=28, hidden_size=64, batch_first=True)
        self.batchnorm = nn.BatchNorm1d(64)
        self.dropout1 = nn.Dropout2d(0.25)
        self.dropout2 = nn.Dropout2d(0.5)
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        input = input.reshape(-1, 28, 28)  # (batch, rows as time, columns as features)
        output, _hidden = self.rnn(input)
        output = output[:, -1, :]
        output = self.batchnorm(output)
        output = self.dropout1(output)
        output = self.fc1(output)
        output = F.relu(output)
        output = self.dropout2(output)
        output = self.fc2(output)
        return F.log_softmax(output, dim=1)


def main() -> None:
    torch.manual_seed(1)
    train_loader, test_loader = loaders(batch_size=64, test_batch_size=1000)
    model = Net()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=0.1)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    for epoch in range(1, 3):
        model.train()
        for batch_idx, (data, target) in enumerate(train_loader):
            optimizer.zero_grad()
            output = model(data)
            loss = F.nll_loss(output, target)
            loss.backward()
            optimizer.step()
            if batch_idx % 10 == 0:
                print(f"Train Epoch: {epoch} [{batch_idx * len(data)}]\tLoss: {loss.item():.6f}")
        model.eval()
        test_loss, correct = 0.0, 0
        with torch.no_grad():
            for data, target in test_loader:
                output = model(data)
                test_loss += F.nll_loss(output, target, reduction="sum").item()
                correct += output.argmax(dim=1).eq(target).sum().item()
        print(f"Test: loss {test_loss / len(test_loader.dataset):.4f}, accuracy {correct}")
        scheduler.step()


if __name__ == "__main__":
    main()
