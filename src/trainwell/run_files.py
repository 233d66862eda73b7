"""Reading files back from a run directory: inside it, bounded, and validated.

A run directory is data a user may have copied from anywhere, so everything trainwell reads
back from one is treated as untrusted input:

* :func:`path_in_run` / :func:`open_in_run` accept only a relative name with no ``..`` and no
  symlink on the way (a symlink could point out of the run directory; ``--resume`` would then
  write and delete there), and open only regular files.
* :func:`read_run_json` reads a JSON file of bounded size; :func:`read_manifest` and
  :func:`read_metrics` validate it against a pydantic schema of the fields trainwell uses.
* :func:`check_safetensors` parses a safetensors header by hand and checks every size and
  offset against the file's real length *before* ``safetensors`` allocates anything, so a
  header claiming 2**62 bytes is refused rather than allocated.

Every failure is a :class:`~trainwell.errors.RunDirError` naming the file and what is wrong.
"""

from __future__ import annotations

import json
import math
import os
import stat
import struct
from pathlib import Path, PurePath
from typing import Any, BinaryIO

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from trainwell.errors import RunDirError, RunError

MAX_JSON_BYTES = 256 << 20  # the largest JSON file trainwell writes is far smaller
MAX_JSON_DEPTH = 64  # trainwell's own files nest < 20 deep; deeper is not ours
MAX_HEADER_BYTES = 100 << 20  # safetensors' own limit on the JSON header
SAFETENSORS_ITEMSIZE = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
    "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip


def _relative_parts(relative: str | PurePath, what: str) -> tuple[str, ...]:
    text = str(relative)
    pure = PurePath(text)
    if not text or pure.is_absolute() or text.startswith(("/", "\\")) or "\x00" in text:
        raise RunDirError(f"{what}: {text!r} is not a relative name inside the run directory")
    parts = tuple(p for p in pure.parts if p not in ("", "."))
    if not parts or any(p == ".." or "\\" in p for p in parts):
        raise RunDirError(f"{what}: {text!r} leaves the run directory")
    return parts


def path_in_run(
    run_dir: str | Path, relative: str | PurePath, *, kind: str = "file", must_exist: bool = True
) -> Path:
    """The path of ``relative`` inside ``run_dir``, refused if it could lead outside.

    Every component below ``run_dir`` is checked with ``lstat``: none may be a symlink, the
    folders on the way must be folders and the last one must be a regular file (``kind="file"``)
    or a folder (``kind="dir"``). ``run_dir`` itself may be reached through a symlink (the user
    named it); what is inside it may not.

    Args:
        run_dir: the run directory.
        relative: a name relative to it, such as ``"checkpoints/epoch-0003.safetensors"``.
        kind: ``"file"`` or ``"dir"``.
        must_exist: refuse a missing path (else a missing last component is allowed, to write).

    Returns:
        ``run_dir / relative``.

    Raises:
        RunDirError: an absolute name, ``..``, a symlink, a wrong kind of file, or missing.
    """
    root = Path(run_dir)
    parts = _relative_parts(relative, str(root))
    path = root
    for i, part in enumerate(parts):
        path = path / part
        last = i == len(parts) - 1
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            if must_exist:
                raise RunDirError(f"{str(path)!r} is missing") from None
            return root.joinpath(*parts)  # the rest is still to be made: nothing to follow
        except OSError as err:
            raise RunDirError(f"{str(path)!r} cannot be read: {err.strerror}") from None
        if stat.S_ISLNK(info.st_mode):
            raise RunDirError(
                f"{str(path)!r} is a symlink; trainwell follows no links inside a run directory"
            )
        want_dir = not last or kind == "dir"
        if want_dir and not stat.S_ISDIR(info.st_mode):
            raise RunDirError(f"{str(path)!r} should be a folder but is not")
        if not want_dir and not stat.S_ISREG(info.st_mode):
            raise RunDirError(f"{str(path)!r} is not a regular file")
    return path


def open_in_run(run_dir: str | Path, relative: str | PurePath) -> BinaryIO:
    """Open ``relative`` inside ``run_dir`` for binary reading, refusing anything that could
    lead outside it (see :func:`path_in_run`); the last component is opened with
    ``O_NOFOLLOW``, so a symlink swapped in after the check is refused too.

    Raises:
        RunDirError: the path is not a regular file inside the run directory.
    """
    path = path_in_run(run_dir, relative)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        raise RunDirError(f"{str(path)!r} cannot be opened: {err.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise RunDirError(f"{str(path)!r} is not a regular file")
    return os.fdopen(fd, "rb")


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, iteratively (no RecursionError)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def parse_json(text: str | bytes, where: str) -> Any:
    """Parse JSON from a run directory; deep nesting and bad text are a RunDirError."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise RunDirError(f"{where} is damaged: nested too deeply") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunDirError(f"{where} is damaged: {err}") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise RunDirError(f"{where} is damaged: nested more than {MAX_JSON_DEPTH} levels deep")
    return value


def read_run_json(run_dir: str | Path, relative: str) -> Any:
    """Read and parse one JSON file inside ``run_dir`` (at most 256 MiB).

    Raises:
        RunDirError: missing, outside the run directory, too large, or not JSON.
    """
    with open_in_run(run_dir, relative) as fh:
        data = fh.read(MAX_JSON_BYTES + 1)
    where = repr(str(Path(run_dir) / relative))
    if len(data) > MAX_JSON_BYTES:
        raise RunDirError(f"{where} is larger than {MAX_JSON_BYTES >> 20} MiB; not trainwell's")
    return parse_json(data, where)


class _Lenient(BaseModel):
    # Only the fields trainwell uses are checked; anything else is kept as written.
    model_config = ConfigDict(extra="allow")


class ManifestData(_Lenient):
    path: str | None = None
    source: str = ""
    sha256: str = ""
    target: str | None = None
    task: str | None = None
    classes: list[Any] | None = None


class ManifestSplits(_Lenient):
    hashes: dict[str, str] = Field(default_factory=dict)


class ManifestModality(_Lenient):
    kind: str = "table"


class Manifest(_Lenient):
    """The fields of ``manifest.json`` that trainwell reads back."""

    status: str
    modality: ManifestModality | None = None
    seed: int | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    data: ManifestData | None = None
    splits: ManifestSplits | None = None
    resumed: list[dict[str, Any]] = Field(default_factory=list, max_length=10_000)
    model_files: dict[str, str] | None = None


class Metrics(_Lenient):
    """``metrics.json``: an object whose sections are objects."""

    validation: dict[str, Any] | None = None
    test: dict[str, Any] | None = None
    baselines: dict[str, dict[str, Any]] | None = None
    network: dict[str, Any] | None = None
    shipped: str | None = None


def _validate(model: type[BaseModel], value: Any, where: str) -> BaseModel:
    try:
        return model.model_validate(value)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "the top level"
        raise RunDirError(f"{where} is malformed: {field}: {first['msg']}") from None


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    """``manifest.json`` validated against :class:`Manifest`; the dict as written.

    Raises:
        RunDirError: missing, outside the run directory, or malformed.
    """
    raw = read_run_json(run_dir, "manifest.json")
    _validate(Manifest, raw, repr(str(Path(run_dir) / "manifest.json")))
    result: dict[str, Any] = raw
    return result


def read_metrics(run_dir: str | Path) -> dict[str, Any]:
    """``metrics.json`` validated against :class:`Metrics`; the dict as written.

    Raises:
        RunDirError: missing, outside the run directory, or malformed (e.g. a list).
    """
    raw = read_run_json(run_dir, "metrics.json")
    _validate(Metrics, raw, repr(str(Path(run_dir) / "metrics.json")))
    result: dict[str, Any] = raw
    return result


class TensorEntry(BaseModel):
    """One tensor in a safetensors header (format: github.com/huggingface/safetensors)."""

    model_config = ConfigDict(extra="forbid")
    dtype: str
    shape: list[int] = Field(max_length=64)
    data_offsets: tuple[int, int]


def check_safetensors(path: Path, *, max_bytes: int | None = None) -> dict[str, TensorEntry]:
    """Validate a safetensors file's header against the file itself, before loading it.

    Checks, without reading any tensor data: the 8-byte header length fits in the file (and
    under 100 MiB); the header is a JSON object; every tensor has a known dtype, non-negative
    dimensions, and byte offsets that lie inside the data area and match its shape; tensors
    neither overlap nor leave gaps (as the format requires). So ``safetensors`` is never asked
    to allocate more than the file holds.

    Args:
        path: the file (already checked to be inside its run directory).
        max_bytes: refuse a larger file.

    Returns:
        Tensor name → header entry (``__metadata__`` excluded).

    Raises:
        RunDirError: naming the file and the first problem found.
    """
    where = repr(str(path))
    try:
        size = os.stat(path).st_size
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise RunDirError(f"{where} is not a safetensors file: shorter than 8 bytes")
            (length,) = struct.unpack("<Q", head)
            if length > min(size - 8, MAX_HEADER_BYTES):
                raise RunDirError(
                    f"{where} is damaged: its header claims {length} bytes, the file has {size}"
                )
            header_bytes = fh.read(length)
    except OSError as err:
        raise RunDirError(f"{where} cannot be read: {err.strerror}") from None
    if max_bytes is not None and size > max_bytes:
        raise RunDirError(f"{where} is {size} bytes, more than the {max_bytes} allowed")
    header = parse_json(header_bytes, where)
    if not isinstance(header, dict):
        raise RunDirError(f"{where} is damaged: its header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    if metadata is not None and not (
        isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())
    ):
        raise RunDirError(f"{where} is damaged: __metadata__ is not a map of strings")
    data_size = size - 8 - length
    entries: dict[str, TensorEntry] = {}
    spans = []
    for name, raw in header.items():
        try:
            entry = TensorEntry.model_validate(raw)
        except ValidationError as err:
            raise RunDirError(
                f"{where} is damaged: tensor {name!r}: {err.errors()[0]['msg']}"
            ) from None
        itemsize = SAFETENSORS_ITEMSIZE.get(entry.dtype)
        if itemsize is None:
            raise RunDirError(
                f"{where} is damaged: tensor {name!r} has unknown dtype {entry.dtype!r}"
            )
        if any(d < 0 for d in entry.shape):
            raise RunDirError(f"{where} is damaged: tensor {name!r} has a negative dimension")
        begin, end = entry.data_offsets
        need = math.prod(entry.shape) * itemsize
        if not 0 <= begin <= end <= data_size:
            raise RunDirError(
                f"{where} is damaged: tensor {name!r} points past the end of the file "
                f"(bytes {begin}..{end} of {data_size})"
            )
        if end - begin != need:
            raise RunDirError(
                f"{where} is damaged: tensor {name!r} of shape {entry.shape} needs {need} bytes, "
                f"its offsets give {end - begin}"
            )
        entries[str(name)] = entry
        spans.append((begin, end))
    position = 0
    for begin, end in sorted(spans):
        if begin != position:
            raise RunDirError(f"{where} is damaged: its tensors overlap or leave gaps")
        position = end
    if position != data_size:
        raise RunDirError(f"{where} is damaged: {data_size - position} bytes after the last tensor")
    return entries


def safetensors_metadata(path: Path) -> dict[str, str]:
    """The ``__metadata__`` map of a safetensors file whose header :func:`check_safetensors`
    accepted (read from the header alone)."""
    with path.open("rb") as fh:
        (length,) = struct.unpack("<Q", fh.read(8))
        header = parse_json(fh.read(length), repr(str(path)))
    metadata = header.get("__metadata__") or {}
    return {str(k): str(v) for k, v in metadata.items()}


def check_run_tree(run_dir: str | Path, *, max_entries: int = 100_000) -> None:
    """Refuse a run directory that holds a symlink, or anything but files and folders,
    anywhere inside it: reading or writing through one could reach outside the run
    directory (``--resume`` with ``checkpoints/`` linked elsewhere would write there).

    Raises:
        RunDirError: naming the first such entry.
    """
    root = Path(run_dir)
    seen = 0
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in [*dirs, *files]:
            seen += 1
            if seen > max_entries:
                raise RunDirError(f"{str(root)!r} holds more than {max_entries} files; not a run")
            path = Path(folder) / name
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                # Gone since it was listed: another process's atomic write renamed its
                # temporary file (rank 0 writing the manifest while rank 1 resumes). Not in
                # the run any more, so nothing to refuse.
                continue
            if stat.S_ISLNK(mode):
                raise RunDirError(
                    f"{str(path)!r} is a symlink; trainwell follows no links inside a run "
                    "directory (replace it by the file itself)"
                )
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise RunDirError(f"{str(path)!r} is not a regular file or folder")


def require_run_dir(path: str | Path) -> Path:
    """``path``, if it is a folder that holds a ``manifest.json``.

    Raises:
        RunError: nothing is there, or it is not a trainwell run.
    """
    path = Path(path)
    if not path.exists():
        raise RunError(
            f"run directory {str(path)!r} does not exist; pass the folder that "
            "`trainwell fit` created"
        )
    if not (path / "manifest.json").is_file():
        raise RunError(
            f"{str(path)!r} is not a trainwell run (no manifest.json); "
            "pass the folder that `trainwell fit` created"
        )
    return path


def check_new_run_dir(path: str | Path) -> None:
    """Refuse an ``--out`` that cannot become a run directory: a file, a symlink, or a path
    under a file. (An existing folder with files in it is refused by the caller.)

    Raises:
        RunDirError: naming the path and what it is.
    """
    path = Path(path)
    if path.is_symlink():
        raise RunDirError(f"--out {str(path)!r} is a symlink; name a new folder")
    if path.exists() and not path.is_dir():
        raise RunDirError(f"--out {str(path)!r} is a file, not a folder; name a new folder")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise RunDirError(f"--out {str(path)!r}: {str(parent)!r} is a file, not a folder")
            break


class SplitsFile(_Lenient):
    """``splits.json``: the row indices of each split."""

    method: str
    train: list[int]
    validation: list[int]
    test: list[int]


def read_splits(run_dir: str | Path, n_rows: int) -> dict[str, Any]:
    """``splits.json`` validated: three lists of row indices, each within ``0..n_rows-1``.

    Raises:
        RunDirError: missing, malformed, or an index outside the data.
    """
    where = repr(str(Path(run_dir) / "splits.json"))
    raw = read_run_json(run_dir, "splits.json")
    parsed = _validate(SplitsFile, raw, where)
    assert isinstance(parsed, SplitsFile)
    for name in ("train", "validation", "test"):
        rows = getattr(parsed, name)
        if rows and not (min(rows) >= 0 and max(rows) < n_rows):
            raise RunDirError(f"{where} is malformed: {name} holds a row outside 0..{n_rows - 1}")
    result: dict[str, Any] = raw
    return result
