"""Image backbones: a small residual CNN (plain torch) and timm's pre-trained families.

timm (ResNet, EfficientNet, ViT, ...) is an optional dependency (``pip install
"trainwell[vision]"``), imported only when a timm architecture is asked for: timm needs
torchvision, which must match the installed torch build exactly, and the built-in CNN covers
the small images where an ImageNet backbone brings nothing (see :mod:`trainwell.models`).
"""

from __future__ import annotations

import importlib
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from trainwell.errors import ConfigError
from trainwell.models.net import Standardize


def _image_standardize(channels: int) -> Standardize:
    return Standardize(channels, (1, channels, 1, 1), dims=(0, 2, 3))


class _Stage(nn.Module):
    """Two 3x3 conv-BN-ReLU layers with a residual shortcut (TW-A05), optionally striding."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut: nn.Module = (
            nn.Identity()
            if stride == 1 and c_in == c_out
            else nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class SmallCNN(nn.Module):
    """A residual CNN for small images (about 0.3M parameters at width 32): a stem, then
    ``stages`` residual stages that double the width and halve the resolution, then global
    average pooling. Pixels arrive as uint8 (or floats in 0-255) and are standardized inside.

    Example:
        >>> SmallCNN(3)(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 128])
    """

    def __init__(self, in_channels: int, width: int = 32, stages: int = 3) -> None:
        super().__init__()
        self.in_channels, self.width, self.stages = in_channels, width, stages
        self.inputs = _image_standardize(in_channels)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
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
        self.checkpointing = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(self.inputs(x))
        for block in self.blocks:
            if self.checkpointing and self.training and x.requires_grad:
                x = checkpoint(block, x, use_reentrant=False)  # TW-T10
            else:
                x = block(x)
        return torch.flatten(self.pool(x), 1)

    def layer_groups(self) -> list[nn.Module]:
        return [nn.ModuleList([self.inputs, self.stem]), *self.blocks]

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.checkpointing = enable

    def spec(self) -> dict[str, Any]:
        return {
            "name": "small_cnn",
            "in_channels": self.in_channels,
            "width": self.width,
            "stages": self.stages,
        }


def import_timm() -> Any:
    try:
        return importlib.import_module("timm")
    except ImportError:
        raise ConfigError(
            "this architecture comes from timm, which is not installed; "
            'pip install "trainwell[vision]" (or use model.name=small_cnn)'
        ) from None


class TimmBackbone(nn.Module):
    """A timm model without its classifier (``num_classes=0``), weights not downloaded here
    (see :func:`trainwell.models.transfer.load_pretrained`)."""

    def __init__(self, name: str, in_channels: int, *, hub_weights: bool = False) -> None:
        super().__init__()
        timm = import_timm()
        if name not in timm.list_models():
            raise ConfigError(
                f"timm has no architecture {name!r}; try resnet18, efficientnet_b0 or "
                "vit_tiny_patch16_224"
            )
        self.name, self.in_channels = name, in_channels
        self.inputs = _image_standardize(in_channels)
        # hub_weights only with model.download=true: timm then fetches from its hub.
        self.net = timm.create_model(
            name, pretrained=hub_weights, num_classes=0, in_chans=in_channels
        )
        self.out_features = int(self.net.num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(self.inputs(x))
        return out

    def layer_groups(self) -> list[nn.Module]:
        """timm's top-level children in order, folded into at most four groups."""
        children = list(self.net.children())
        n = max(1, min(4, len(children)))
        size = -(-len(children) // n)
        groups = [nn.ModuleList(children[i : i + size]) for i in range(0, len(children), size)]
        groups[0] = nn.ModuleList([self.inputs, *groups[0]])
        return list(groups)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.net.set_grad_checkpointing(enable)

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "family": "timm", "in_channels": self.in_channels}
