"""A shipped image, text or series model on disk, and predictions from raw data.

``RUN_DIR/model/`` holds ``weights.safetensors``, ``model.json`` (the network's spec, the
encoding that turns raw data into tensors, the classes, and the sha256 of every file, checked
on load) and, for a fine-tuned transformer, its tokenizer's JSON and text files. No pickle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from safetensors.torch import load_file, save_file

from trainwell.artifact import verify_files
from trainwell.config import FitConfig
from trainwell.data.load import file_sha256
from trainwell.errors import DataError, RunError
from trainwell.modalities.base import Samples, predict_outputs
from trainwell.models import ModalityNet, build_backbone
from trainwell.train.checkpoint import atomic_write_bytes

FORMAT_VERSION = 1
TOKENIZER = "tokenizer"


def is_modality_model(folder: Path) -> bool:
    path = folder / "model.json"
    if not path.is_file():
        return False
    try:
        return json.loads(path.read_text()).get("kind") == "modality"
    except json.JSONDecodeError:
        return False


def save_modality_model(
    folder: Path,
    net: ModalityNet,
    encoding: dict[str, Any],
    target: str,
    classes: list[Any] | None,
    tokenizer_source: str | None = None,
) -> dict[str, str]:
    """Write the model folder; returns {file name: sha256}."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / "weights.safetensors"
    save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, str(weights))
    files = {weights.name: file_sha256(weights)}
    encoding = dict(encoding)
    if tokenizer_source is not None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(tokenizer_source, local_files_only=True)
        saved = tokenizer.save_pretrained(str(folder / TOKENIZER))
        for name in saved:
            path = Path(name)
            if path.is_file():
                files[str(path.relative_to(folder))] = file_sha256(path)
        encoding["source"] = TOKENIZER  # relative to the model folder
    spec = {
        "format": FORMAT_VERSION,
        "kind": "modality",
        "modality": encoding["modality"],
        "name": "network",
        "task": net.task,
        "target": target,
        "classes": classes,
        "network": net.spec(),
        "encoding": encoding,
        "files": files,
    }
    atomic_write_bytes(folder / "model.json", (json.dumps(spec, indent=2) + "\n").encode())
    return {**files, "model.json": file_sha256(folder / "model.json")}


@dataclass
class ModalityModel:
    """A loaded model: raw images, texts or series in, predictions out."""

    spec: dict[str, Any]
    net: ModalityNet
    folder: Path

    def predict_data(self, data: str | Path | pd.DataFrame) -> pd.DataFrame:
        """Predictions for a folder of images, or a table of texts or series; class
        probabilities as ``proba_<class>`` columns. Never augmented (TW-D10).

        Raises:
            DataError: the data does not hold what the model needs.
        """
        from trainwell.modalities import image, series, text

        encoding = self.spec["encoding"]
        kind = encoding["modality"]
        cfg = FitConfig()
        samples: Samples
        if kind == "image":
            if isinstance(data, pd.DataFrame) or not Path(data).exists():
                raise DataError("an image model predicts a folder of images (or one image file)")
            samples = image.load(Path(data), cfg, for_predict=encoding)
        else:
            if isinstance(data, pd.DataFrame):
                frame = data
            else:
                from trainwell.data.load import read_table

                frame = read_table(data)
            if kind == "text":
                samples = text.load(
                    frame, cfg, for_predict=encoding, folder=self.folder / TOKENIZER
                )
            else:
                samples = series.load(frame, cfg, for_predict=encoding)
        outputs = predict_outputs(self.net, samples.inputs).double().numpy()
        keys = samples.frame[samples.key].reset_index(drop=True)
        if self.spec["task"] == "regression":
            return pd.DataFrame({samples.key: keys, "prediction": outputs})
        classes = self.spec["classes"]
        labels = np.asarray(classes, dtype=object)[outputs.argmax(axis=1)]
        result = pd.DataFrame({samples.key: keys, "prediction": labels})
        for i, cls in enumerate(classes):
            result[f"proba_{cls}"] = outputs[:, i]
        if kind == "text":
            result.index = samples.frame.index
            result = result.drop(columns=[samples.key])
        return result


def load_modality_model(folder: Path) -> ModalityModel:
    """Load a folder written by :func:`save_modality_model`, checking every file's hash.

    Raises:
        RunError: a file is missing or changed.
    """
    try:
        spec = json.loads((folder / "model.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise RunError(f"{str(folder)!r} holds no readable model.json: {err}") from None
    verify_files(folder, spec["files"])
    network = spec["network"]
    backbone = build_backbone(network["backbone"])
    net = ModalityNet(backbone, network["task"], network["n_classes"], network["dropout"])
    net.load_state_dict(load_file(str(folder / "weights.safetensors")))
    net.eval()
    return ModalityModel(spec, net, folder)
