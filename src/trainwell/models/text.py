"""Text backbones: a pre-trained transformer encoder (Hugging Face ``transformers``) and a
bag of embeddings trained from scratch when no pre-trained encoder is at hand.

Both take ``(token_ids, attention_mask)`` and return the masked mean of their token vectors
(the pooling sentence-transformers uses for MiniLM-class encoders).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def _masked_mean(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.unsqueeze(-1).to(tokens.dtype)
    return (tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


def quiet_transformers() -> None:
    """No progress bars or advice on stderr from transformers: the CLI prints its own lines."""
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()


class HFEncoder(nn.Module):
    """A ``transformers`` encoder (BERT, DistilBERT, MiniLM ...) with masked mean pooling.

    Built from a config dict (no weights); :meth:`from_pretrained` loads a local folder, or
    the hub cache, downloading only when ``download`` is True.
    """

    def __init__(self, config: dict[str, Any] | None = None, model: Any = None) -> None:
        super().__init__()
        from transformers import AutoConfig, AutoModel

        quiet_transformers()
        if model is None:
            assert config is not None
            cfg = dict(config)
            model = AutoModel.from_config(
                AutoConfig.for_model(cfg.pop("model_type"), **cfg), add_pooling_layer=False
            )
        self.model = model
        self.config = model.config
        self.out_features = int(self.config.hidden_size)

    @classmethod
    def from_pretrained(cls, source: str, *, download: bool = False) -> HFEncoder:
        """A local folder or cached hub id; the hub is contacted only when ``download``."""
        from transformers import AutoModel

        quiet_transformers()
        model = AutoModel.from_pretrained(
            source, local_files_only=not download, add_pooling_layer=False
        )
        return cls(model=model)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        return _masked_mean(out, mask)

    def layer_groups(self) -> list[nn.Module]:
        """Embeddings, then the encoder's layers in (at most) three groups of equal size."""
        layers = list(self._layers())
        n = min(3, len(layers)) or 1
        size = -(-len(layers) // n)
        groups = [nn.ModuleList(layers[i : i + size]) for i in range(0, len(layers), size)]
        embeddings = getattr(self.model, "embeddings", None) or self.model.get_input_embeddings()
        return [embeddings, *groups]

    def _layers(self) -> list[nn.Module]:
        for path in ("encoder.layer", "transformer.layer", "layers", "encoder.layers"):
            node: Any = self.model
            try:
                for part in path.split("."):
                    node = getattr(node, part)
            except AttributeError:
                continue
            return list(node)
        return [self.model]

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        if enable:
            self.model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False}
            )
        else:
            self.model.gradient_checkpointing_disable()

    def spec(self) -> dict[str, Any]:
        config = self.config.to_diff_dict()
        config["model_type"] = self.config.model_type
        for key in (
            "architectures",
            "transformers_version",
            "_name_or_path",
            "torch_dtype",
            "dtype",
        ):
            config.pop(key, None)
        return {"name": "hf_encoder", "config": config}


class BagOfEmbeddings(nn.Module):
    """Word embeddings averaged over the text, then a hidden layer (fastText-like): the
    small-data text model to train from scratch.

    Example:
        >>> net = BagOfEmbeddings(100)
        >>> net(torch.ones(2, 5, dtype=torch.long), torch.ones(2, 5)).shape
        torch.Size([2, 64])
    """

    def __init__(self, vocab_size: int, dim: int = 64) -> None:
        super().__init__()
        self.vocab_size, self.dim = vocab_size, dim
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.hidden = nn.Sequential(nn.Linear(dim, dim), nn.ReLU())
        self.out_features = dim

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.hidden(_masked_mean(self.embed(ids), mask))

    def layer_groups(self) -> list[nn.Module]:
        return [self.embed, self.hidden]

    def spec(self) -> dict[str, Any]:
        return {"name": "bag_of_embeddings", "vocab_size": self.vocab_size, "dim": self.dim}
