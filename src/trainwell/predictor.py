"""The shipped model: raw data in, a DataFrame of predictions out, for every modality.

A :class:`Predictor` is the shipped :class:`~trainwell.candidates.Candidate` (the network, or
any baseline) with its modality's encoding: raw data in (a table, a folder of images, texts,
series), ``prediction`` and one ``proba_<class>`` column per class out. ``Run.predict`` and
``trainwell predict`` go through it; an ensemble or an exported model will too.

On disk (``RUN_DIR/model/``) a predictor is one ``model.json`` (schema :class:`ModelFile`)
beside its files, each listed with its sha256 and checked before anything is read; files the
list does not name are never opened, and no listed name may leave the folder or be a link.
A loader per storage ``kind`` (:data:`LOADERS`) rebuilds the candidate. Nothing is pickled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from trainwell.candidates import (
    LIGHTGBM,
    WEIGHTS,
    Candidate,
    Kind,
    LightGBMCandidate,
    LinearCandidate,
    NetworkCandidate,
    load_network,
)
from trainwell.config import Task
from trainwell.data.load import file_sha256
from trainwell.ensemble import load_ensemble
from trainwell.errors import RunError
from trainwell.files import atomic_write_bytes
from trainwell.modalities.base import DataSource, Samples
from trainwell.modalities.registry import REGISTRY
from trainwell.run_files import check_safetensors

FORMAT_VERSION: Literal[2] = 2
MODEL_JSON = "model.json"


class ModelFile(BaseModel):
    """The schema of ``model.json``: what was shipped, for which data, and its files."""

    model_config = ConfigDict(extra="forbid")

    format: Literal[2]
    name: str
    kind: Kind
    modality: str
    task: Task
    target: str
    classes: list[Any] | None
    encoding: dict[str, Any]
    files: dict[str, str]  # file name (relative to the model folder) -> sha256
    network: dict[str, Any] | None = None  # kind torch
    features: dict[str, Any] | None = None  # kind linear
    info: dict[str, Any] = {}


@dataclass
class Predictor:
    """A shipped model: raw data in, a DataFrame of predictions out (TW-D09: the encoding
    it was trained with travels with it).

    Example:
        >>> predictor = load_predictor(Path("runs/2026-11-22-wine/model"))  # doctest: +SKIP
        >>> predictor.predict(new_rows).columns.tolist()  # doctest: +SKIP
        ['prediction', 'proba_0', 'proba_1', 'proba_2']
    """

    spec: ModelFile
    candidate: Candidate
    folder: Path

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def task(self) -> Task:
        return self.spec.task

    @property
    def classes(self) -> list[Any] | None:
        return self.spec.classes

    def samples(self, data: DataSource) -> Samples:
        """``data`` encoded as the model's inputs.

        Raises:
            DataError: the data lacks what the model needs (a column, images, ...).
        """
        return REGISTRY[self.spec.modality].predict_samples(data, self.spec.encoding, self.folder)

    def predict(self, data: DataSource) -> pd.DataFrame:
        """Predictions for raw data: ``prediction``, and ``proba_<class>`` per class.

        Raises:
            DataError: the data lacks what the model needs (a column, images, ...).
        """
        return self.predict_encoded(self.samples(data))

    def predict_encoded(self, samples: Samples) -> pd.DataFrame:
        """:meth:`predict` on data already encoded by :meth:`samples` (``trainwell serve``
        measures drift on the same samples)."""
        table = prediction_table(self.task, self.classes, self.candidate.outputs(samples))
        return REGISTRY[self.spec.modality].predict_frame(samples, table)


def prediction_table(task: Task, classes: list[Any] | None, outputs: np.ndarray) -> pd.DataFrame:
    """``prediction`` (the class or value) and ``proba_<class>`` columns from outputs."""
    if task == "regression":
        return pd.DataFrame({"prediction": outputs})
    assert classes is not None
    labels = np.asarray(classes, dtype=object)[outputs.argmax(axis=1)]
    result = pd.DataFrame({"prediction": labels})
    for i, cls in enumerate(classes):
        result[f"proba_{cls}"] = outputs[:, i]
    return result


def save_predictor(
    folder: Path,
    candidate: Candidate,
    *,
    modality: str,
    task: Task,
    target: str,
    classes: list[Any] | None,
    encoding: dict[str, Any],
    extra_files: dict[str, str] | None = None,
) -> dict[str, str]:
    """Write ``folder/model.json`` and the candidate's weights; returns {file name: sha256}
    of every file written (``model.json`` included) for the manifest.

    ``extra_files`` are files already in ``folder`` that the model needs (a tokenizer's),
    listed with their sha256 so they are checked on load too.
    """
    folder.mkdir(parents=True, exist_ok=True)
    keys, paths = candidate.save(folder)
    files = {p.name: file_sha256(p) for p in paths}
    files.update(extra_files or {})
    spec = ModelFile(
        format=FORMAT_VERSION,
        name=candidate.name,
        kind=candidate.kind,
        modality=modality,
        task=task,
        target=target,
        classes=classes,
        encoding=encoding,
        files=files,
        info={k: v for k, v in candidate.info.items() if k != "task"},
        **keys,
    )
    path = folder / MODEL_JSON
    atomic_write_bytes(path, (spec.model_dump_json(indent=2) + "\n").encode())
    return {**files, MODEL_JSON: file_sha256(path)}


def member(folder: Path, name: str, files: dict[str, str]) -> Path:
    """The listed file ``name`` inside ``folder``, checked: a plain relative path that stays
    inside the folder, a regular file (not a link), with the sha256 ``model.json`` lists.

    Raises:
        RunError: the name is not listed, escapes the folder, is a link or not a regular
            file, or its content changed.
    """
    if name not in files:
        raise RunError(f"{str(folder / MODEL_JSON)!r} does not list {name!r}; refusing to load it")
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise RunError(f"{str(folder / MODEL_JSON)!r} lists {name!r}, a path outside the model")
    path = folder / relative
    if path.is_symlink() or not path.is_file():
        raise RunError(f"model file {str(path)!r} is missing, a link, or not a regular file")
    if file_sha256(path) != files[name]:
        raise RunError(
            f"model file {str(path)!r} does not match its recorded sha256; the run directory "
            "was changed after training"
        )
    return path


def read_model_file(folder: Path) -> ModelFile:
    """``folder/model.json``, validated (older format-1 files are upgraded).

    Raises:
        RunError: missing, unreadable, or not the schema.
    """
    path = folder / MODEL_JSON
    if path.is_symlink() or not path.is_file():
        raise RunError(f"{str(folder)!r} holds no model (model.json is missing)")
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise RunError(f"{str(path)!r} is damaged: {err}") from None
    if isinstance(raw, dict) and raw.get("format") == 1:
        raw = _upgrade_format_1(raw)
    try:
        return ModelFile.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the top level"
        raise RunError(f"{str(path)!r} is not a trainwell model: {where}: {first['msg']}") from None


def _upgrade_format_1(raw: dict[str, Any]) -> dict[str, Any]:
    """Format 1 (two layouts: tables, and images/text/series) as format 2."""
    if raw.get("kind") == "modality":
        return {
            "format": 2, "name": raw.get("name", "network"), "kind": "torch",
            "modality": raw.get("modality"), "task": raw.get("task"), "target": raw.get("target"),
            "classes": raw.get("classes"), "encoding": raw.get("encoding"),
            "files": raw.get("files"), "network": {"class": "modality", "spec": raw.get("network")},
        }  # fmt: skip
    upgraded = {
        "format": 2, "name": raw.get("name"), "kind": raw.get("kind"), "modality": "table",
        "task": raw.get("task"), "target": raw.get("target"), "classes": raw.get("classes"),
        "encoding": {"modality": "table", "encoder": raw.get("encoder")}, "files": raw.get("files"),
    }  # fmt: skip
    if raw.get("kind") == "torch":
        upgraded["network"] = {"class": "tabular", "spec": raw.get("network")}
    return upgraded


def _load_torch(spec: ModelFile, folder: Path) -> Candidate:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    assert spec.network is not None
    path = member(folder, WEIGHTS, spec.files)
    check_safetensors(path)  # the header against the file, before anything is allocated
    try:
        net = load_network(spec.network)
        net.load_state_dict(load_file(str(path)))
    except (KeyError, TypeError, ValueError, RuntimeError, SafetensorError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise RunError(f"{str(folder)!r}: the network does not load: {message}") from None
    net.eval()
    return NetworkCandidate(spec.name, net, {"task": spec.task})


def _load_lightgbm(spec: ModelFile, folder: Path) -> Candidate:
    import lightgbm as lgb

    path = member(folder, LIGHTGBM, spec.files)
    try:
        booster = lgb.Booster(model_str=path.read_text())
    except (lgb.basic.LightGBMError, UnicodeDecodeError) as err:
        raise RunError(f"{str(path)!r} is not a LightGBM model: {err}") from None
    return LightGBMCandidate(spec.name, booster, spec.task, {"task": spec.task})


def _load_linear(spec: ModelFile, folder: Path) -> Candidate:
    from safetensors.torch import load_file

    assert spec.features is not None
    path = member(folder, WEIGHTS, spec.files)
    check_safetensors(path)
    tensors = load_file(str(path))
    if set(tensors) != {"coef", "intercept"}:
        raise RunError(
            f"{str(path)!r} holds {sorted(tensors)}, not a linear model's coef, intercept"
        )
    coef, intercept = tensors["coef"].numpy(), tensors["intercept"].numpy()
    if spec.features.get("name") == "none":
        from trainwell.features import NoFeatures

        features: Any = NoFeatures()
    else:
        features = REGISTRY[spec.modality].load_features(spec.features)
    return LinearCandidate(spec.name, features, coef, intercept, spec.task, {"task": spec.task})


def _load_exported(spec: ModelFile, folder: Path) -> Candidate:
    from trainwell.export.load import load_exported_candidate

    return load_exported_candidate(spec, folder)


# One loader per storage kind (ModelFile.kind); exported files: trainwell.export; averaged
# networks: trainwell.ensemble.
LOADERS = {
    "torch": _load_torch,
    "lightgbm": _load_lightgbm,
    "linear": _load_linear,
    "onnx": _load_exported,
    "torchscript": _load_exported,
    "ensemble": load_ensemble,
}


def load_predictor(folder: Path) -> Predictor:
    """Load a model folder written by :func:`save_predictor`, checking every file's sha256.

    Raises:
        RunError: the folder is missing or damaged, a file is unlisted, outside the folder,
            or does not match its hash.
    """
    spec = read_model_file(folder)
    for name in spec.files:  # every listed file is checked, also those a loader never opens
        member(folder, name, spec.files)
    return Predictor(spec, LOADERS[spec.kind](spec, folder), folder)
