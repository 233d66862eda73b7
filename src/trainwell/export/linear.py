"""A shipped linear baseline (:class:`~trainwell.candidates.LinearCandidate`) as a torch
module, so it exports through the same ONNX and TorchScript exporters as a network.

Its feature map must offer ``module()``: the same features as its ``transform``, computed by
torch from the modality's input tensors (pooled pixels, per-channel series statistics, no
features for the dummy). A feature map computed from something other than tensors (a text's
TF-IDF of normalized words and word pairs) has none, and its baseline is refused with why.
"""

from __future__ import annotations

from typing import Any

import torch

from trainwell.errors import RunError


class LinearGraph(torch.nn.Module):
    """``link(features(*inputs) @ coef.T + intercept)`` in float64, as
    :meth:`~trainwell.candidates.LinearCandidate.outputs` computes it; ``predict`` is what
    the exported file computes."""

    coef: torch.Tensor
    intercept: torch.Tensor

    def __init__(self, features: torch.nn.Module, coef: Any, intercept: Any, task: str) -> None:
        super().__init__()
        self.features = features
        self.task = task
        self.register_buffer("coef", torch.as_tensor(coef, dtype=torch.float64))
        self.register_buffer("intercept", torch.as_tensor(intercept, dtype=torch.float64))

    def predict(self, *inputs: torch.Tensor) -> torch.Tensor:
        x = self.features(*inputs).to(torch.float64)
        z = x @ self.coef.T + self.intercept
        if self.task == "regression":
            return z[:, 0]
        if self.task == "binary":
            p = torch.sigmoid(z[:, 0])
            return torch.stack([1 - p, p], dim=1)
        return torch.softmax(z, dim=1)


def linear_graph(candidate: Any) -> LinearGraph:
    """The linear candidate as a :class:`LinearGraph`.

    Raises:
        RunError: its feature map cannot be computed by torch from the input tensors.
    """
    module = getattr(candidate.features, "module", None)
    if module is None:
        name = candidate.features.to_json().get("name", "?")
        raise RunError(
            f"the run ships its {candidate.name} baseline on {name} features, which are "
            "computed in Python from the raw data (not from the input tensors), so it has no "
            "ONNX or TorchScript export; ship the network (baselines.ship=network) to export it"
        )
    return LinearGraph(module(), candidate.coef, candidate.intercept, candidate.task)
