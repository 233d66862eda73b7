"""What every modality hands the pipeline: :class:`Samples`, and batches with and without
augmentation.

A modality module (``image``, ``text``, ``series``) reads its data into one table row per
example (the target and what identifies the example: a path, a text, a series id) plus the
tensors a network reads; the shared pipeline (:mod:`trainwell.modalities.fit`) splits, audits,
trains and exports the same way for all of them. Augmentation is applied in exactly one
place, :class:`AugmentedData`, which only the training split goes through (TW-D10); every
other use of the inputs goes through :func:`predict_outputs`, which never augments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from trainwell.findings import Finding
from trainwell.models import Modality

Inputs = tuple[torch.Tensor, ...]
# An augmentation: a batch of inputs and a seeded generator in, a new batch out.
Augment = Callable[[Inputs, torch.Generator], Inputs]


@dataclass
class Samples:
    """One modality's examples: a table row and the input tensors of each, in one order.

    Attributes:
        kind: ``image``, ``text`` or ``series``.
        frame: one row per example: ``key`` (path, text or series id) and the target.
        key: the column naming each example in findings and predictions.
        inputs: the network's input tensors for every example (unaugmented).
        encoding: JSON-able facts that turn raw data into ``inputs`` again at predict time.
        info: facts for the manifest (sizes, lengths, vocabulary).
        findings: what reading the data found (unreadable files, inconsistent sizes ...).
        extras: per-example values the audit uses (perceptual hashes, normalized texts).
    """

    kind: Modality
    frame: pd.DataFrame
    key: str
    inputs: Inputs
    encoding: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)

    def select(self, rows: np.ndarray) -> Inputs:
        index = torch.as_tensor(rows, dtype=torch.long)
        return tuple(x[index] for x in self.inputs)


class AugmentedData:
    """Training batches, reshuffled every epoch (TW-D12) and augmented (TW-D10).

    The order and the augmentation of epoch ``e`` come from generators seeded with
    ``seed + e``, so a resumed run replays them exactly. Satisfies
    :class:`trainwell.train.loop.TrainData`.
    """

    def __init__(
        self,
        inputs: Inputs,
        target: torch.Tensor,
        batch_size: int,
        augment: Augment | None,
        *,
        seed: int = 0,
        device: torch.device | None = None,
    ) -> None:
        self.device = device or torch.device("cpu")
        if self.device.type == "cuda":  # TW-T12: page-locked memory, asynchronous copies
            inputs, target = tuple(x.pin_memory() for x in inputs), target.pin_memory()
        self.inputs, self.target = inputs, target
        self.batch_size = batch_size
        self.augment = augment
        self.seed = seed

    def __len__(self) -> int:
        return -(-len(self.target) // self.batch_size)

    def epoch(self, epoch: int) -> Iterable[tuple[Inputs, torch.Tensor]]:
        order = torch.randperm(
            len(self.target), generator=torch.Generator().manual_seed(self.seed + epoch)
        )
        noise = torch.Generator().manual_seed(10_007 * (self.seed + 1) + epoch)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            batch = tuple(x[rows] for x in self.inputs)
            if self.augment is not None:
                batch = self.augment(batch, noise)
            yield (
                tuple(x.to(self.device, non_blocking=True) for x in batch),
                self.target[rows].to(self.device, non_blocking=True),
            )


@torch.no_grad()
def predict_outputs(
    net: torch.nn.Module, inputs: Inputs, batch_size: int = 256, raw: bool = False
) -> torch.Tensor:
    """The network's outputs for ``inputs`` in eval mode, batched, never augmented (P05).

    ``raw`` gives logits (for the loss); otherwise probabilities or values (``predict``).
    """
    net.eval()
    device = next(net.parameters()).device
    chunks = []
    for start in range(0, len(inputs[0]), batch_size):
        batch = tuple(x[start : start + batch_size].to(device) for x in inputs)
        out = net(*batch) if raw else net.predict(*batch)  # type: ignore[operator]
        chunks.append(out.float().cpu())
    return torch.cat(chunks)
