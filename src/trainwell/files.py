"""Writing files so that no reader ever sees half of one, and reading JSON back.

Every file trainwell writes into a run directory goes through :func:`atomic_write_bytes`:
written to a temporary name in the same folder, fsynced, then renamed over the target, so a
reader (or a resumed run) sees the old complete file or the new complete file, never a
partial one, even if the process is killed mid-write.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from trainwell.errors import DataError, RunError


def require_data_file(path: str | Path) -> Path:
    """``path``, if something is there (a data file or an image folder).

    Raises:
        DataError: nothing is at ``path``.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file {str(path)!r} does not exist; check the path")
    return path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so no partial file is ever visible there."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: Path, data: Any) -> None:
    """``data`` as indented JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(data, indent=2, default=str) + "\n").encode())


def read_json(path: Path) -> Any:
    """A JSON file trainwell wrote.

    Raises:
        RunError: the file is missing or damaged.
    """
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunError(f"{str(path)!r} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise RunError(f"{str(path)!r} is damaged: {err}") from None
