"""Loading an exported file as a :class:`~trainwell.predictor.Predictor` (sha256 checked).

``RUN_DIR/export/export.json`` records, per format, the exported model's ``model.json``
(:class:`~trainwell.predictor.ModelFile`, kind ``onnx`` or ``torchscript``: its files with
their sha256, the encoding ``predict`` uses) and its parity check. Loading
``RUN_DIR/export/model.onnx`` finds the entry that lists the file, checks every listed file
with :func:`trainwell.predictor.member` (name, no link, sha256) before anything is read, and
rebuilds the candidate through :data:`trainwell.predictor.LOADERS`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from trainwell.candidates import Candidate
from trainwell.errors import RunError
from trainwell.files import read_json
from trainwell.predictor import LOADERS, ModelFile, Predictor, member

EXPORT_JSON = "export.json"


def read_record(folder: Path) -> dict[str, Any]:
    """``folder/export.json`` ({} when there is none yet).

    Raises:
        RunError: it is damaged, a link, or not an export record.
    """
    path = folder / EXPORT_JSON
    if path.is_symlink():
        raise RunError(f"{str(path)!r} is a link; refusing to read it")
    if not path.exists():
        return {}
    record = read_json(path)
    if not isinstance(record, dict) or not isinstance(record.get("formats", {}), dict):
        raise RunError(f"{str(path)!r} is not a trainwell export record")
    return record


def load_exported_candidate(spec: ModelFile, folder: Path) -> Candidate:
    """The candidate of an exported ``model.json`` (kind ``onnx`` or ``torchscript``); its
    file is checked against its sha256 before it is read.

    Raises:
        RunError: the file is unlisted, changed, or does not load.
    """
    from trainwell.export.formats import FILES, OnnxCandidate, TorchScriptCandidate
    from trainwell.export.inputs import RAW_GRAPHS, RAW_SCRIPTS

    name = FILES[spec.kind]
    data = member(folder, name, spec.files).read_bytes()
    if hashlib.sha256(data).hexdigest() != spec.files[name]:  # changed since it was checked
        raise RunError(f"model file {str(folder / name)!r} does not match its recorded sha256")
    in_graph = bool(spec.info.get("raw_inputs", {}).get("in_graph"))
    if spec.kind == "onnx":
        raw = RAW_GRAPHS.get(spec.modality) if in_graph else None
        inputs = spec.info.get("inputs", "network")
        return OnnxCandidate(spec.name, data, spec.task, inputs, raw=raw, encoding=spec.encoding)
    script = RAW_SCRIPTS.get(spec.modality) if in_graph else None
    return TorchScriptCandidate(spec.name, data, spec.task, raw=script, encoding=spec.encoding)


def load_exported(path: str | Path) -> Predictor:
    """The exported model file ``path`` (``RUN_DIR/export/model.onnx`` or ``model.pt``) as a
    predictor: raw data in, the same predictions table as the run's model.

    Raises:
        RunError: no export record lists the file, or a listed file is missing, a link, or
            does not match its recorded sha256.
    """
    path = Path(path)
    folder = path.parent
    for entry in read_record(folder).get("formats", {}).values():
        try:
            spec = ModelFile.model_validate(entry.get("model"))
        except (ValidationError, AttributeError):
            where = str(folder / EXPORT_JSON)
            raise RunError(f"{where!r} is not a trainwell export record") from None
        if path.name in spec.files and spec.kind in {"onnx", "torchscript"}:
            for name in spec.files:
                member(folder, name, spec.files)
            return Predictor(spec, LOADERS[spec.kind](spec, folder), folder)
    raise RunError(
        f"{str(path)!r} is not an exported trainwell model ({str(folder / EXPORT_JSON)!r} does "
        "not list it); export one with `trainwell export RUN_DIR`"
    )
