"""Audio backbone: a small residual CNN on log-mel spectrograms (plain torch).

A log-mel spectrogram is a one-channel image whose axes mean different things: each mel
band has its own level and spread, so the input is standardized per band with training
statistics (TW-D08), not per channel as for pixels. The body is the residual stage of the
image CNN (TW-A05); global average pooling makes the features independent of the clip's
length in frames.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from trainwell.models.net import Standardize
from trainwell.models.vision import _Stage


class AudioCNN(nn.Module):
    """Per-band standardization, a strided conv stem, ``stages`` residual stages (each after
    the first doubling the width and halving frequency and time), then global average pooling.

    Takes the log-mel batch ``(n, 1, n_mels, frames)`` in dB; a second input (the
    waveform, carried for augmentation by :mod:`trainwell.modalities.audio`) is ignored.

    Example:
        >>> AudioCNN(64)(torch.zeros(2, 1, 64, 51)).shape
        torch.Size([2, 64])
    """

    def __init__(self, n_mels: int, width: int = 16, stages: int = 3) -> None:
        super().__init__()
        self.n_mels, self.width, self.stages = n_mels, width, stages
        self.inputs = Standardize(n_mels, (1, 1, n_mels, 1), dims=(0, 1, 3))
        self.stem = nn.Sequential(
            # Stride 2: mel bands and 10 ms frames are finer than the patterns that matter,
            # and halving both makes every later layer 4x cheaper.
            nn.Conv2d(1, width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        blocks = []
        c = width
        for i in range(stages):
            c_out = width * 2**i
            blocks.append(_Stage(c, c_out, stride=1 if i == 0 else 2))
            c = c_out
        self.blocks = nn.ModuleList(blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_features = c

    def forward(self, spec: torch.Tensor, *ignored: torch.Tensor) -> torch.Tensor:
        x = self.stem(self.inputs(spec))
        for block in self.blocks:
            x = block(x)
        return torch.flatten(self.pool(x), 1)

    def layer_groups(self) -> list[nn.Module]:
        return [nn.ModuleList([self.inputs, self.stem]), *self.blocks]

    def spec(self) -> dict[str, Any]:
        return {
            "name": "audio_cnn",
            "n_mels": self.n_mels,
            "width": self.width,
            "stages": self.stages,
        }
