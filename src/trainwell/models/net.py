"""The network every non-tabular modality trains: a backbone, then a linear head.

A backbone turns a batch of inputs (pixels, token ids, series) into one feature vector per
example and lists its *layer groups*, from the input side to the output side; fine-tuning
unfreezes them from the top and gives each a lower learning rate the deeper it is (TW-A04).
The head follows the output convention of the tabular network (TW-A06): one logit for binary,
K for multiclass, one scaled value for regression.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

import numpy as np
import torch
from torch import nn

from trainwell.config import Task
from trainwell.models.tabular import n_outputs


class Backbone(Protocol):
    """What :class:`ModalityNet` needs from a backbone (an ``nn.Module``)."""

    out_features: int

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor: ...

    def layer_groups(self) -> list[nn.Module]: ...

    def spec(self) -> dict[str, Any]: ...


class Standardize(nn.Module):
    """Per-channel standardization with statistics of the training split (TW-D08), kept in
    the model so training, evaluation and serving apply the same preprocessing (TW-D09).

    ``dims`` are the dimensions averaged over (all but the channel one).
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, channels: int, shape: tuple[int, ...], dims: tuple[int, ...]) -> None:
        super().__init__()
        self.dims = dims
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("std", torch.ones(shape))
        self.channels = channels

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> None:
        x = x.float()
        self.mean.copy_(x.mean(dim=self.dims, keepdim=True))
        self.std.copy_(x.std(dim=self.dims, keepdim=True).clamp_min(1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() - self.mean) / self.std


class ModalityNet(nn.Module):
    """Backbone features → dropout → linear head; ``predict`` gives probabilities or values.

    Example:
        >>> from trainwell.models.vision import SmallCNN
        >>> net = ModalityNet(SmallCNN(1), "multiclass", 10)
        >>> net.predict(torch.zeros(2, 1, 8, 8, dtype=torch.uint8)).shape
        torch.Size([2, 10])
    """

    target_mean: torch.Tensor
    target_std: torch.Tensor

    def __init__(self, backbone: nn.Module, task: Task, n_classes: int, dropout: float = 0.2):
        super().__init__()
        self.backbone = backbone
        self.task = task
        self.n_classes = n_classes
        self.dropout_p = dropout
        self.dropout = nn.Dropout(dropout)
        features = cast(Any, backbone).out_features  # every backbone declares it (Backbone)
        self.head = nn.Linear(int(features), n_outputs(task, n_classes))
        self.register_buffer("target_mean", torch.zeros(()))
        self.register_buffer("target_std", torch.ones(()))

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.backbone(*inputs)))

    @torch.no_grad()
    def predict(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Class probabilities (n, K) or values in the target's units (n,)."""
        out = self(*inputs).float()
        if self.task == "regression":
            return out[:, 0] * self.target_std + self.target_mean
        if self.task == "binary":
            p = torch.sigmoid(out[:, 0])
            return torch.stack([1 - p, p], dim=1)
        return torch.softmax(out, dim=1)

    def layer_groups(self) -> list[nn.Module]:
        """The backbone's groups from input to output, then the head."""
        groups: list[nn.Module] = list(self.backbone.layer_groups())  # type: ignore[operator]
        return [*groups, self.head]

    @torch.no_grad()
    def init_output(self, y: np.ndarray) -> None:
        """Logits start at the log class prior, a regression at the scaled mean (TW-A07)."""
        if self.task == "regression":
            self.target_mean.fill_(float(np.mean(y)))
            self.target_std.fill_(float(np.std(y)) or 1.0)
            self.head.bias.zero_()
            return
        counts = np.bincount(y, minlength=self.n_classes).astype(np.float64) + 1.0
        prior = counts / counts.sum()
        bias = np.log(prior[1:] / prior[:1]) if self.task == "binary" else np.log(prior)
        self.head.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))

    def spec(self) -> dict[str, Any]:
        return {
            "backbone": self.backbone.spec(),  # type: ignore[operator]
            "task": self.task,
            "n_classes": self.n_classes,
            "dropout": self.dropout_p,
        }
