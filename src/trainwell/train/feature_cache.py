"""A pre-trained backbone frozen for the whole run, used as a fixed feature extractor (TW-A03).

Keras' transfer-learning guide ("Transfer learning & fine-tuning", the feature-extraction
workflow) runs the frozen base model over the data once and trains the new head on what it
recorded: "faster and cheaper", at the price of not augmenting the inputs, since every epoch
would then need the base model again. trainwell keeps a text encoder frozen on a CPU
(:func:`trainwell.models.transfer.fine_tune_decision`) and ``model.fine_tune=false`` freezes
any backbone; before this cache, each of a run's optimizer steps still ran the whole encoder
on its batch (issue 19: a 240-text fit with all-MiniLM-L6-v2 spent 584 s in the train stage
for 528 steps, each a full 22M-parameter forward pass).

:class:`FeatureCache` computes each example's features once, in inference mode (the frozen
base runs with ``training=False`` in the guide: its dropout off, its batch norms on their
pre-trained statistics) and without gradients, and hands out the stored rows on every later
call: the linear probe's pass fills it, the LR range test, every training step and every
validation pass read from it. An example is known by a digest of its input rows' bytes (a
text's token ids and attention mask), so any batch, in any order, finds its rows. The
backbone's weights are not touched, so the network trains, checkpoints and exports as before;
outside :meth:`FeatureCache.active` (the sealed test, predictions, exports) the backbone runs
as usual.

Several networks on the same backbone in one process (a run's cross-validation folds, a
tune's trials and its final fit) compute each example once between them: inside
:func:`shared_features`, caches of backbones with equal weights (SHA-256), on the same device
and precision, share one store of rows, which lives as long as the outermost
``shared_features`` block.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial
from typing import Any

import torch

from trainwell.train.checkpoint import tensors_sha256

Rows = dict[bytes, torch.Tensor]
_SHARED: ContextVar[dict[str, Rows] | None] = ContextVar("trainwell_shared_features", default=None)


@contextmanager
def shared_features() -> Iterator[None]:
    """While open, every :class:`FeatureCache` made in this context whose backbone has the
    same weights, device and ``variant`` reads and fills the same rows (nested use is a
    no-op: the outermost block owns the store, and drops it when it closes)."""
    if _SHARED.get() is not None:
        yield
        return
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


class FeatureCache:
    """Each example's features from a frozen ``backbone``, computed once.

    Args:
        backbone: the pre-trained module, frozen (no parameter requiring a gradient) for as
            long as the cache is :meth:`active`; were one unfrozen, calls bypass the cache.
        variant: what else decides the features besides the weights, device and inputs (the
            training precision); only caches with equal ``variant`` share rows.

    Attributes:
        computed: examples whose features the backbone computed.
        reused: examples served from the cache.

    Example:
        >>> backbone = torch.nn.Linear(4, 2).requires_grad_(False)
        >>> cache = FeatureCache(backbone)
        >>> x = torch.randn(3, 4)
        >>> with cache.active():
        ...     first, again = backbone(x), backbone(x[[2, 0]])
        >>> torch.equal(again, first[[2, 0]]), cache.computed, cache.reused
        (True, 3, 2)
    """

    def __init__(self, backbone: torch.nn.Module, variant: str = "") -> None:
        self.backbone = backbone
        self.rows: Rows = {}
        store = _SHARED.get()
        if store is not None:  # inside shared_features(): the rows of equal backbones
            device = next((str(p.device) for p in backbone.parameters()), "cpu")
            weights = tensors_sha256(backbone.state_dict())
            self.rows = store.setdefault(f"{weights}:{device}:{variant}", {})
        self.computed = 0
        self.reused = 0

    @contextmanager
    def active(self) -> Iterator[None]:
        """While open, calling the backbone reads the cache (nested use is a no-op)."""
        if "forward" in vars(self.backbone):  # already active
            yield
            return
        original = self.backbone.forward
        # An instance attribute: nn.Module.__call__ calls self.forward, and the module's
        # state_dict (checkpoints, export) does not change.
        self.backbone.forward = partial(self._forward, original)
        try:
            yield
        finally:
            del self.backbone.forward

    def _forward(self, original: Any, *inputs: torch.Tensor) -> torch.Tensor:
        if any(p.requires_grad for p in self.backbone.parameters()):
            return original(*inputs)  # unfrozen: its features change as it trains
        keys = row_keys(inputs)
        missing = [i for i, key in enumerate(keys) if key not in self.rows]
        if missing:
            index = torch.as_tensor(missing, device=inputs[0].device)
            was_training = self.backbone.training
            self.backbone.eval()
            try:
                with torch.no_grad():
                    out = original(*(x[index] for x in inputs))
            finally:
                self.backbone.train(was_training)
            for i, row in zip(missing, out, strict=True):
                self.rows.setdefault(keys[i], row.clone())
            self.computed += len(missing)
        self.reused += len(keys) - len(missing)
        return torch.stack([self.rows[key] for key in keys])


def row_keys(inputs: tuple[torch.Tensor, ...]) -> list[bytes]:
    """One key per example (row of the first dimension): a 128-bit BLAKE2b digest of its
    rows' bytes in every input (an image's 150 kB would otherwise be its own key)."""
    n = len(inputs[0])
    arrays = [x.detach().reshape(n, -1).cpu().contiguous().numpy() for x in inputs]
    keys = []
    for i in range(n):
        digest = hashlib.blake2b(digest_size=16)
        for a in arrays:
            digest.update(a[i].tobytes())
        keys.append(digest.digest())
    return keys
