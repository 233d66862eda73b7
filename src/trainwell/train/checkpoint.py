"""Checkpoints as single safetensors files, written atomically (TW-T11). No pickle.

A checkpoint holds every tensor of the training state (model, optimizer, callbacks, RNG) and
a JSON description of the rest in the safetensors metadata. Nested state dicts are split
into tensors and JSON by :func:`flatten` and put back together by :func:`unflatten`.

Files are written to a temporary name in the same folder, fsynced, then renamed over the
target, so a reader sees either the old complete file or the new complete file, never a
partial one, even if the process is killed mid-write.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from trainwell.errors import RunDirError
from trainwell.files import atomic_write_bytes as atomic_write_bytes  # moved; old import path
from trainwell.files import fsync_dir
from trainwell.run_files import check_safetensors, parse_json, path_in_run, safetensors_metadata

CHECKPOINT_RE = re.compile(r"^epoch-(\d{4,})\.safetensors$")


def flatten(obj: Any, tensors: dict[str, torch.Tensor], prefix: str = "") -> Any:
    """Replace every tensor in ``obj`` by a reference and collect it in ``tensors``.

    Dicts with non-string keys (optimizer state is keyed by parameter index) are stored as
    key/value pairs so the keys keep their type.
    """
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj.detach().to("cpu", copy=True).contiguous()
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: flatten(v, tensors, f"{prefix}.{k}") for k, v in obj.items()}
        return {"__items__": [[k, flatten(v, tensors, f"{prefix}.{k}")] for k, v in obj.items()]}
    if isinstance(obj, list | tuple):
        items = [flatten(v, tensors, f"{prefix}.{i}") for i, v in enumerate(obj)]
        return items if isinstance(obj, list) else {"__tuple__": items}
    if obj is None or isinstance(obj, str | bool | int | float):
        return obj
    raise TypeError(f"cannot checkpoint a value of type {type(obj).__name__} at {prefix!r}")


def unflatten(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__items__" in obj:
            return {k: unflatten(v, tensors) for k, v in obj["__items__"]}
        if "__tuple__" in obj:
            return tuple(unflatten(v, tensors) for v in obj["__tuple__"])
        return {k: unflatten(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [unflatten(v, tensors) for v in obj]
    return obj


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Save a nested state (tensors and JSON-able values) atomically as one safetensors file."""
    tensors: dict[str, torch.Tensor] = {}
    structure = flatten(state, tensors, "s")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    save_file(tensors, str(tmp), metadata={"trainwell": json.dumps(structure)})
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def _tensor_refs(structure: Any) -> set[str]:
    """Every tensor name a flattened structure refers to (iteratively: no deep recursion)."""
    refs: set[str] = set()
    stack = [structure]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__tensor__" in item:
                refs.add(str(item["__tensor__"]))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return refs


def check_checkpoint(path: Path) -> Any:
    """Check a checkpoint without loading its tensors: the safetensors header against the
    file, the ``trainwell`` metadata, and that every tensor it names is in the file.

    Returns:
        The parsed JSON structure.

    Raises:
        RunDirError: naming the file and the first problem.
    """
    where = f"checkpoint {str(path)!r}"
    entries = check_safetensors(path)
    metadata = safetensors_metadata(path)
    if "trainwell" not in metadata:
        raise RunDirError(f"{where} is not trainwell's: no 'trainwell' metadata")
    structure = parse_json(metadata["trainwell"], where)
    missing = sorted(_tensor_refs(structure) - set(entries))
    if missing:
        raise RunDirError(f"{where} is damaged: its metadata names a missing tensor {missing[0]!r}")
    return structure


def load_state(path: Path) -> dict[str, Any]:
    """Load a state written by :func:`save_state`.

    The safetensors header is checked against the file before anything is allocated
    (:func:`trainwell.run_files.check_safetensors`), and every tensor the JSON structure
    names must be in the file.

    Raises:
        RunDirError: the file is not a trainwell checkpoint or is damaged.
    """
    where = f"checkpoint {str(path)!r}"
    structure = check_checkpoint(path)
    try:
        tensors = load_file(str(path))
        result = unflatten(structure, tensors)
    except (SafetensorError, OSError, KeyError, TypeError, ValueError) as err:
        raise RunDirError(f"{where} is damaged or not trainwell's: {err}") from None
    if not isinstance(result, dict):
        raise RunDirError(f"{where} is damaged: its state is not a JSON object")
    return result


def tensors_sha256(tensors: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 (hex) over named tensors: each one's name, dtype, shape and bytes, in name
    order, so equal weights give equal digests wherever they live."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def checkpoint_path(folder: Path, epoch: int) -> Path:
    return folder / f"epoch-{epoch:04d}.safetensors"


def latest_checkpoint(folder: Path) -> Path | None:
    """The checkpoint of the latest epoch in ``folder``, or None.

    Raises:
        RunDirError: ``folder`` or the checkpoint is a symlink or not a regular file.
    """
    if not folder.is_dir() and not folder.is_symlink():
        return None
    path_in_run(folder.parent, folder.name, kind="dir")  # refuses a symlinked folder
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := CHECKPOINT_RE.match(p.name))]
    if not found:
        return None
    found.sort()
    latest = path_in_run(folder.parent, f"{folder.name}/{found[-1][1].name}")
    try:
        check_checkpoint(latest)  # a damaged checkpoint is refused before any work resumes
    except RunDirError as err:
        # Never skipped silently: the run would quietly lose an epoch or more of training.
        earlier = f"from {found[-2][1].name}" if len(found) > 1 else "from the first epoch"
        raise RunDirError(f"{err}; delete it to resume {earlier}, or start a new run") from None
    return latest
