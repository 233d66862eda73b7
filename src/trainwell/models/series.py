"""Time-series backbones (TW-A01): a temporal CNN, an LSTM and a Transformer encoder.

All take a float batch ``(n, length, channels)``, standardize each channel with training
statistics, and return one feature vector per series. Plain torch: nothing to download.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from trainwell.models.net import Standardize


def _series_standardize(channels: int) -> Standardize:
    return Standardize(channels, (1, 1, channels), dims=(0, 1))


class _TemporalBlock(nn.Module):
    """Dilated conv-BN-ReLU twice with a residual shortcut (TW-A05)."""

    def __init__(self, c_in: int, c_out: int, dilation: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(c_in, c_out, 3, padding=dilation, dilation=dilation),
            nn.BatchNorm1d(c_out),
            nn.ReLU(),
            nn.Conv1d(c_out, c_out, 3, padding=dilation, dilation=dilation),
            nn.BatchNorm1d(c_out),
        )
        self.shortcut = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class TemporalCNN(nn.Module):
    """Dilated residual convolutions (dilation 1, 2, 4, ...) and global average pooling.

    Example:
        >>> TemporalCNN(3)(torch.zeros(2, 50, 3)).shape
        torch.Size([2, 64])
    """

    def __init__(self, channels: int, width: int = 64, blocks: int = 4) -> None:
        super().__init__()
        self.channels, self.width, self.n_blocks = channels, width, blocks
        self.inputs = _series_standardize(channels)
        self.blocks = nn.ModuleList(
            _TemporalBlock(channels if i == 0 else width, width, 2**i) for i in range(blocks)
        )
        self.out_features = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inputs(x).transpose(1, 2)
        for block in self.blocks:
            h = block(h)
        return h.mean(dim=2)

    def layer_groups(self) -> list[nn.Module]:
        return [nn.ModuleList([self.inputs, self.blocks[0]]), *self.blocks[1:]]

    def spec(self) -> dict[str, Any]:
        return {
            "name": "tcn",
            "channels": self.channels,
            "width": self.width,
            "blocks": self.n_blocks,
        }


class LSTMEncoder(nn.Module):
    """A two-layer LSTM; the features are the mean and the last of its outputs.

    Example:
        >>> LSTMEncoder(3)(torch.zeros(2, 20, 3)).shape
        torch.Size([2, 128])
    """

    def __init__(self, channels: int, hidden: int = 64, layers: int = 2) -> None:
        super().__init__()
        self.channels, self.hidden, self.layers = channels, hidden, layers
        self.inputs = _series_standardize(channels)
        self.lstm = nn.LSTM(channels, hidden, num_layers=layers, batch_first=True)
        self.out_features = 2 * hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.inputs(x))
        return torch.cat([out.mean(dim=1), out[:, -1]], dim=1)

    def layer_groups(self) -> list[nn.Module]:
        return [nn.ModuleList([self.inputs, self.lstm])]

    def spec(self) -> dict[str, Any]:
        return {
            "name": "lstm",
            "channels": self.channels,
            "hidden": self.hidden,
            "layers": self.layers,
        }


class SeriesTransformer(nn.Module):
    """Linear projection, learned positions, a pre-norm Transformer encoder, mean pooling.

    Example:
        >>> SeriesTransformer(3, length=20)(torch.zeros(2, 20, 3)).shape
        torch.Size([2, 64])
    """

    def __init__(self, channels: int, length: int, d_model: int = 64, layers: int = 2) -> None:
        super().__init__()
        self.channels, self.length, self.d_model, self.n_layers = channels, length, d_model, layers
        self.inputs = _series_standardize(channels)
        self.project = nn.Linear(channels, d_model)
        self.position = nn.Parameter(torch.zeros(1, length, d_model))
        nn.init.normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(
            d_model, nhead=4, dim_feedforward=2 * d_model, dropout=0.1, batch_first=True,
            norm_first=True,
        )  # fmt: skip
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out_features = d_model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.project(self.inputs(x)) + self.position[:, : x.shape[1]]
        return self.encoder(h).mean(dim=1)

    def layer_groups(self) -> list[nn.Module]:
        first = nn.ModuleList([self.inputs, self.project])
        first.register_parameter("position", self.position)
        return [first, *self.encoder.layers]

    def spec(self) -> dict[str, Any]:
        return {
            "name": "transformer",
            "channels": self.channels,
            "length": self.length,
            "d_model": self.d_model,
            "layers": self.n_layers,
        }
