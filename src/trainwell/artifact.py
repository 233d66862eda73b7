"""The shipped model on disk: ``RUN_DIR/model/`` as JSON + safetensors (or LightGBM text).

Nothing is pickled. ``model.json`` holds the task, the classes, the feature encoder and the
network's spec, plus the sha256 of every weight file, checked on load (integrity).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from safetensors.torch import load_file, save_file

from trainwell.baselines import Candidate
from trainwell.config import Task
from trainwell.data.load import file_sha256
from trainwell.errors import RunError
from trainwell.model import TabularNet
from trainwell.preprocess import FeatureEncoder
from trainwell.train.checkpoint import atomic_write_bytes

FORMAT_VERSION = 1


def verify_files(folder: Path, digests: dict[str, str]) -> None:
    """Check every model file against the hash recorded when it was written.

    Raises:
        RunError: a file is missing or its content changed.
    """
    for name, digest in digests.items():
        file = folder / name
        if not file.is_file() or file_sha256(file) != digest:
            raise RunError(
                f"model file {str(file)!r} is missing or does not match its recorded sha256; "
                "the run directory was changed after training"
            )


@dataclass
class ShippedModel:
    """A loaded model with its preprocessing: raw rows in, predictions out."""

    name: str
    task: Task
    target: str
    classes: list[Any] | None
    encoder: FeatureEncoder
    candidate: Candidate

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Predictions for raw rows; class probabilities as ``proba_<class>`` columns.

        Raises:
            DataError: a column the model needs is missing or holds the wrong type.
        """
        num, cat = self.encoder.transform(frame)
        outputs = self.candidate.outputs(num, cat)
        if self.task == "regression":
            return pd.DataFrame({"prediction": outputs}, index=frame.index)
        assert self.classes is not None
        labels = np.asarray(self.classes, dtype=object)[outputs.argmax(axis=1)]
        result = pd.DataFrame({"prediction": labels}, index=frame.index)
        for i, cls in enumerate(self.classes):
            result[f"proba_{cls}"] = outputs[:, i]
        return result


def save_model(
    folder: Path,
    candidate: Candidate,
    encoder: FeatureEncoder,
    task: Task,
    target: str,
    classes: list[Any] | None,
) -> dict[str, str]:
    """Write the model folder; returns {file name: sha256}."""
    folder.mkdir(parents=True, exist_ok=True)
    spec: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "name": candidate.name,
        "task": task,
        "target": target,
        "classes": classes,
        "encoder": encoder.to_json(),
    }
    if isinstance(candidate.model, lgb.Booster):
        weights = folder / "lightgbm.txt"
        atomic_write_bytes(weights, candidate.model.model_to_string().encode())
        spec["kind"] = "lightgbm"
    else:
        weights = folder / "weights.safetensors"
        state = {k: v.contiguous() for k, v in candidate.model.state_dict().items()}
        save_file(state, str(weights))
        spec["kind"] = "torch"
        spec["network"] = candidate.model.spec()
    spec["files"] = {weights.name: file_sha256(weights)}
    atomic_write_bytes(folder / "model.json", (json.dumps(spec, indent=2) + "\n").encode())
    return {**spec["files"], "model.json": file_sha256(folder / "model.json")}


def load_model(folder: Path) -> ShippedModel:
    """Load a model folder written by :func:`save_model`, checking every file's hash.

    Raises:
        RunError: the folder is missing, damaged, or a file does not match its hash.
    """
    path = folder / "model.json"
    if not path.is_file():
        raise RunError(f"{str(folder)!r} holds no model (model.json is missing)")
    try:
        spec = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise RunError(f"{str(path)!r} is damaged: {err}") from None
    if spec.get("format") != FORMAT_VERSION:
        raise RunError(f"{str(path)!r} has model format {spec.get('format')!r}; expected 1")
    verify_files(folder, spec["files"])
    task = spec["task"]
    if spec["kind"] == "lightgbm":
        booster = lgb.Booster(model_str=(folder / "lightgbm.txt").read_text())
        candidate = Candidate(spec["name"], booster, {"task": task})
    else:
        net = TabularNet.from_spec(spec["network"])
        net.load_state_dict(load_file(str(folder / "weights.safetensors")))
        net.eval()
        candidate = Candidate(spec["name"], net, {"task": task})
    return ShippedModel(
        name=spec["name"],
        task=task,
        target=spec["target"],
        classes=spec["classes"],
        encoder=FeatureEncoder.from_json(spec["encoder"]),
        candidate=candidate,
    )
