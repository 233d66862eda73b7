"""Candidates: every model the pipeline fits and scores, the network and every baseline.

A :class:`Candidate` is a fitted model on encoded inputs (:class:`~trainwell.modalities.base.
Samples`): ``outputs(samples)`` gives class probabilities ``(n, K)`` or values ``(n,)`` in
the target's units. The pipeline scores every candidate the same way and ships one as a
:class:`~trainwell.predictor.Predictor` (raw data in, predictions out). Each candidate saves
itself into a model folder; :data:`LOADERS` rebuild them, one per storage kind:

=========== ================================================================================
``torch``    a network (the trained one, or a table's dummy/linear baseline in the network's
             wrapper): its spec in JSON, its weights in safetensors
``lightgbm`` LightGBM's own text format (tables)
``linear``   a linear (or constant) model on fixed features of images, text or series: the
             feature map in JSON (:mod:`trainwell.features`), coefficients in safetensors
``ensemble`` networks averaged (:mod:`trainwell.ensemble`): one spec, a safetensors per member
=========== ================================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import torch

from trainwell.config import Task
from trainwell.errors import RunError
from trainwell.files import atomic_write_bytes
from trainwell.modalities.base import Samples, predict_outputs
from trainwell.models import ModalityNet, build_backbone
from trainwell.models.tabular import TabularNet

if TYPE_CHECKING:
    import lightgbm as lgb

    from trainwell.features import FeatureMap

WEIGHTS = "weights.safetensors"
LIGHTGBM = "lightgbm.txt"
# "onnx" and "torchscript": an exported model (trainwell.export), run by ONNX Runtime or torch.jit;
# "ensemble": several networks averaged (trainwell.ensemble).
Kind = Literal["torch", "lightgbm", "linear", "onnx", "torchscript", "ensemble"]


class Candidate(Protocol):
    """A fitted model that can be scored, shipped and saved."""

    name: str
    kind: Kind
    info: dict[str, Any]

    def outputs(self, samples: Samples) -> np.ndarray:
        """Class probabilities ``(n, K)`` or values ``(n,)`` in the target's units."""
        ...

    def save(self, folder: Path) -> tuple[dict[str, Any], list[Path]]:
        """Write the weights into ``folder``; the ``model.json`` keys and the files written."""
        ...


@dataclass
class NetworkCandidate:
    """A network: ``forward(*inputs)`` logits, ``predict(*inputs)`` probabilities or values,
    ``spec()`` its JSON description (:func:`load_network` rebuilds it)."""

    name: str
    model: torch.nn.Module
    info: dict[str, Any] = field(default_factory=dict)
    kind: Kind = "torch"

    def outputs(self, samples: Samples) -> np.ndarray:
        return predict_outputs(self.model, samples.inputs).double().numpy()

    def save(self, folder: Path) -> tuple[dict[str, Any], list[Path]]:
        from safetensors.torch import save_file

        path = folder / WEIGHTS
        state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, str(path))
        network = {"class": _network_class(self.model), "spec": self.model.spec()}  # type: ignore[operator]
        return {"network": network}, [path]


@dataclass
class LightGBMCandidate:
    """Gradient boosting on a table's encoded columns (numeric, then category codes)."""

    name: str
    booster: lgb.Booster
    task: Task
    info: dict[str, Any] = field(default_factory=dict)
    kind: Kind = "lightgbm"

    def outputs(self, samples: Samples) -> np.ndarray:
        num, cat = (x.numpy() for x in samples.inputs)
        raw = np.asarray(self.booster.predict(lightgbm_matrix(num, cat)), dtype=np.float64)
        return np.column_stack([1 - raw, raw]) if self.task == "binary" else raw

    def save(self, folder: Path) -> tuple[dict[str, Any], list[Path]]:
        path = folder / LIGHTGBM
        atomic_write_bytes(path, self.booster.model_to_string().encode())
        return {}, [path]


@dataclass
class LinearCandidate:
    """``outputs = link(features(samples) @ coef.T + intercept)``: a fitted scikit-learn
    logistic or ridge regression (or a constant, with no features), kept as plain arrays so
    it ships like any model. The link is the one scikit-learn's ``predict_proba`` applies:
    the logistic sigmoid for binary, softmax for multinomial, identity for regression."""

    name: str
    features: FeatureMap
    coef: np.ndarray  # (K or 1, n_features)
    intercept: np.ndarray  # (K or 1,)
    task: Task
    info: dict[str, Any] = field(default_factory=dict)
    kind: Kind = "linear"

    def outputs(self, samples: Samples) -> np.ndarray:
        x = self.features.transform(samples)
        z = np.asarray(x @ self.coef.T, dtype=np.float64) + self.intercept
        if self.task == "regression":
            return z[:, 0]
        if self.task == "binary":
            p = 1.0 / (1.0 + np.exp(-z[:, 0]))
            return np.column_stack([1 - p, p])
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def save(self, folder: Path) -> tuple[dict[str, Any], list[Path]]:
        from safetensors.torch import save_file

        path = folder / WEIGHTS
        tensors = {
            "coef": torch.from_numpy(np.ascontiguousarray(self.coef, dtype=np.float64)),
            "intercept": torch.from_numpy(np.ascontiguousarray(self.intercept, dtype=np.float64)),
        }
        save_file(tensors, str(path))
        return {"features": self.features.to_json()}, [path]


def lightgbm_matrix(num: np.ndarray, cat: np.ndarray) -> np.ndarray:
    return np.hstack([num.astype(np.float64), cat.astype(np.float64)])


def _network_class(model: torch.nn.Module) -> str:
    return "tabular" if isinstance(model, TabularNet) else "modality"


def load_network(network: dict[str, Any]) -> torch.nn.Module:
    """Rebuild a network (weights not loaded) from the ``network`` entry of ``model.json``.

    Raises:
        RunError: an unknown network class; ConfigError for an unknown architecture.
    """
    spec = network["spec"]
    if network["class"] == "tabular":
        return TabularNet.from_spec(spec)
    if network["class"] == "modality":
        backbone = build_backbone(spec["backbone"])
        return ModalityNet(backbone, spec["task"], spec["n_classes"], spec["dropout"])
    raise RunError(f"unknown network class {network['class']!r} in model.json")
