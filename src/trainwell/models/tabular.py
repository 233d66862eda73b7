"""The tabular network: preprocessing layer + head, and the objective it is trained with.

The default head is a residual MLP sized to the data (TW-A02, TW-A05): pre-norm residual
blocks with LayerNorm (works at any batch size, same in train and eval), ReLU (TW-A06), dropout
(TW-T05), and an initialization that starts every block as the identity and the output near
the loss at chance (TW-A07). Baselines reuse the same wrapper with a linear or constant head,
so every shipped torch model is saved and loaded the same way.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trainwell.config import ModelConfig, Task
from trainwell.preprocess import TabularInput

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
}


def size_mlp(n_train: int, cfg: ModelConfig) -> tuple[int, int]:
    """Width and depth for ``n_train`` rows unless the config fixes them (TW-A02).

    Start small and grow capacity only where the data pays for it: a few thousand rows
    support a width-64 network with one residual block; width 128 with two blocks serves
    2,000 to 200,000 rows; each further step (256 x 3, then 512 x 4) takes ten times the rows.

    Measured (``benchmarks/train_cpu.py``, ``make_classification`` with 23 features as in
    ``benchmarks/fit_speed.py``): on 24,000 training rows 256 x 3 (403k parameters) reached
    test accuracy 0.9823, 128 x 2 (70k) 0.9850 and 128 x 1 0.9860; on 80,000, 256 x 3 reached
    0.9836 (0.9826 on one thread) and 128 x 2 0.9838 (scikit-learn's MLP 0.9816), with a
    train stage of 1.12-1.23x the MLP's fit in CPU seconds on one thread (256 x 3: 5.48x,
    measured alike). The larger network fitted no better at ~6x the FLOPs per row, so the
    step to 256 x 3 comes a decade later (it was at 20,000 rows, and 512 x 4 at 200,000).

    Returns:
        ``(width, depth)``: units per residual block and the number of blocks.
    """
    if n_train < 2_000:
        width, depth = 64, 1
    elif n_train < 200_000:
        width, depth = 128, 2
    elif n_train < 2_000_000:
        width, depth = 256, 3
    else:
        width, depth = 512, 4
    return cfg.width or width, depth if cfg.depth is None else cfg.depth


class ResidualBlock(nn.Module):
    """x + Linear(Dropout(act(Linear(LayerNorm(x))))), starting as the identity."""

    def __init__(self, width: int, dropout: float, activation: str) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width)
        self.act = ACTIVATIONS[activation]()
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(width, width)
        # Zero-init the residual branch's last layer so a deep stack starts as a shallow one.
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(self.drop(self.act(self.fc1(self.norm(x)))))


def build_head(spec: dict[str, Any]) -> nn.Module:
    """A head from its JSON spec: ``mlp``, ``linear`` or ``constant``."""
    kind, n_in, n_out = spec["type"], spec["in"], spec["out"]
    if kind == "linear":
        return nn.Linear(n_in, n_out)
    if kind == "constant":
        return ConstantHead(n_out)
    if kind != "mlp":
        raise ValueError(f"unknown head type {kind!r}")
    width = spec["width"]
    act = spec["activation"]
    layers: list[nn.Module] = [nn.Linear(n_in, width)]
    layers += [ResidualBlock(width, spec["dropout"], act) for _ in range(spec["depth"])]
    out = nn.Linear(width, n_out)
    # Small output weights: logits start near zero, so the loss at init is near ln K (TW-A07).
    nn.init.normal_(out.weight, std=0.01)
    nn.init.zeros_(out.bias)
    layers += [nn.LayerNorm(width), ACTIVATIONS[act](), out]
    return nn.Sequential(*layers)


class ConstantHead(nn.Module):
    """Ignores its input and returns a learned constant (the dummy baseline, when shipped)."""

    def __init__(self, n_out: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bias.expand(x.shape[0], -1)


def n_outputs(task: Task, n_classes: int) -> int:
    # TW-A06: one logit with a sigmoid for binary, K logits with softmax for multiclass.
    return n_classes if task == "multiclass" else 1


class TabularNet(nn.Module):
    """Raw encoded features in, logits (or the scaled regression target) out.

    ``predict`` applies the output activation (sigmoid / softmax) and undoes target scaling,
    so it returns class probabilities or values in the target's units.
    """

    target_mean: torch.Tensor
    target_std: torch.Tensor

    def __init__(self, inputs: TabularInput, head_spec: dict[str, Any], task: Task) -> None:
        super().__init__()
        self.task = task
        self.inputs = inputs
        self.head_spec = head_spec
        self.head = build_head(head_spec)
        self.register_buffer("target_mean", torch.zeros(()))
        self.register_buffer("target_std", torch.ones(()))

    def forward(self, num: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
        return self.head(self.inputs(num, cat))

    @torch.no_grad()
    def predict(self, num: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
        out = self(num, cat).float()
        if self.task == "binary":
            p = torch.sigmoid(out[:, 0])
            return torch.stack([1 - p, p], dim=1)
        if self.task == "multiclass":
            return torch.softmax(out, dim=1)
        return out[:, 0] * self.target_std + self.target_mean

    def spec(self) -> dict[str, Any]:
        return {"task": self.task, "input": self.inputs.spec, "head": self.head_spec}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> TabularNet:
        return cls(TabularInput(spec["input"]), spec["head"], spec["task"])


def mlp_spec(n_in: int, n_out: int, width: int, depth: int, cfg: ModelConfig) -> dict[str, Any]:
    return {
        "type": "mlp",
        "in": n_in,
        "out": n_out,
        "width": width,
        "depth": depth,
        "dropout": cfg.dropout,
        "activation": cfg.activation,
    }


def init_output_bias(net: TabularNet, y_train: np.ndarray, weighted: bool) -> None:
    """Start classification logits at the log class prior, so the first steps do not spend
    themselves learning the base rate (TW-A07). With class weights the weighted prior is
    uniform, so the bias stays at zero."""
    if net.task == "regression" or weighted or net.head_spec["type"] != "mlp":
        return
    counts = np.bincount(y_train).astype(np.float64)
    prior = counts / counts.sum()
    assert isinstance(net.head, nn.Sequential)
    out = net.head[-1]
    assert isinstance(out, nn.Linear)
    with torch.no_grad():
        if net.task == "binary":
            out.bias.fill_(math.log(prior[1] / prior[0]))
        else:
            out.bias.copy_(torch.from_numpy(np.log(prior)).float())


class Objective(nn.Module):
    """The training loss: (weighted) BCE, cross-entropy or MSE on the scaled target.

    With class weights, the loss is the weighted mean ``sum(w_y * l) / sum(w_y)``, the same
    normalization ``nn.CrossEntropyLoss(weight=...)`` uses (TW-D11).
    """

    class_weights: torch.Tensor | None

    def __init__(self, task: Task, class_weights: torch.Tensor | None = None) -> None:
        super().__init__()
        self.task = task
        self.register_buffer("class_weights", class_weights)

    def forward(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = out.float()
        if self.task == "regression":
            return F.mse_loss(out[:, 0], y)
        if self.task == "multiclass":
            return F.cross_entropy(out, y, weight=self.class_weights)
        losses = F.binary_cross_entropy_with_logits(out[:, 0], y.float(), reduction="none")
        if self.class_weights is None:
            return losses.mean()
        w = self.class_weights[y]
        return (w * losses).sum() / w.sum()
