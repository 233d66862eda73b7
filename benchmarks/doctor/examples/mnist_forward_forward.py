"""https://github.com/pytorch/examples/blob/main/mnist_forward_forward/main.py
pytorch/examples mnist_forward_forward: Hinton's forward-forward training, two 500-unit layers
each with its own Adam (lr 0.03) and softplus goodness loss (threshold 2), full-batch.

Changed to run offline: scikit-learn's bundled digits upscaled to 28x28 (the first 1,500 as
the one full training batch, the last 297 as the test batch, MNIST-normalized and flattened)
instead of the MNIST download; 300 epochs per layer (was 1,000; at 100 both layers stay at
chance); a fixed seed; its ``args``/``device`` globals are module constants.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from _digits import digits
from torch.optim import Adam

epochs, lr, threshold, log_interval, seed = 300, 0.03, 2.0, 10, 1


def get_y_neg(y: torch.Tensor) -> torch.Tensor:
    y_neg = y.clone()
    for idx, y_samp in enumerate(y):
        allowed_indices = list(range(10))
        allowed_indices.remove(int(y_samp.item()))
        y_neg[idx] = torch.tensor(allowed_indices)[
            torch.randint(len(allowed_indices), size=(1,))
        ].item()
    return y_neg


def overlay_y_on_x(x: torch.Tensor, y: torch.Tensor | int, classes: int = 10) -> torch.Tensor:
    x_ = x.clone()
    x_[:, :classes] *= 0.0
    x_[range(x.shape[0]), y] = x.max()
    return x_


class Net(torch.nn.Module):
    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.layers: list[Layer] = []
        for d in range(len(dims) - 1):
            self.layers = [*self.layers, Layer(dims[d], dims[d + 1])]

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        goodness_per_label = []
        for label in range(10):
            h = overlay_y_on_x(x, label)
            goodness: list[torch.Tensor] = []
            for layer in self.layers:
                h = layer(h)
                goodness = [*goodness, h.pow(2).mean(1)]
            goodness_per_label += [sum(goodness).unsqueeze(1)]  # type: ignore[union-attr]
        return torch.cat(goodness_per_label, 1).argmax(1)

    def train(self, x_pos, x_neg):  # type: ignore[no-untyped-def, override]
        h_pos, h_neg = x_pos, x_neg
        for i, layer in enumerate(self.layers):
            print("training layer: ", i)
            h_pos, h_neg = layer.train(h_pos, h_neg)


class Layer(nn.Linear):
    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__(in_features, out_features, bias)
        self.relu = torch.nn.ReLU()
        self.opt = Adam(self.parameters(), lr=lr)
        self.threshold = threshold
        self.num_epochs = epochs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_direction = x / (x.norm(2, 1, keepdim=True) + 1e-4)
        return self.relu(torch.mm(x_direction, self.weight.T) + self.bias.unsqueeze(0))

    def train(self, x_pos, x_neg):  # type: ignore[no-untyped-def, override]
        for i in range(self.num_epochs):
            g_pos = self.forward(x_pos).pow(2).mean(1)
            g_neg = self.forward(x_neg).pow(2).mean(1)
            loss = torch.log1p(
                torch.exp(torch.cat([-g_pos + self.threshold, g_neg - self.threshold]))
            ).mean()
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            if i % log_interval == 0:
                print("Loss: ", loss.item())
        return self.forward(x_pos).detach(), self.forward(x_neg).detach()


def main() -> None:
    torch.manual_seed(seed)
    train, test = digits(normalize=True)
    net = Net([784, 500, 500])
    x, y = train.tensors[0].flatten(1), train.tensors[1]
    x_pos = overlay_y_on_x(x, y)
    y_neg = get_y_neg(y)
    x_neg = overlay_y_on_x(x, y_neg)
    net.train(x_pos, x_neg)
    print("train error:", 1.0 - net.predict(x).eq(y).float().mean().item())
    x_te, y_te = test.tensors[0].flatten(1), test.tensors[1]
    print("test error:", 1.0 - net.predict(x_te).eq(y_te).float().mean().item())


if __name__ == "__main__":
    main()
